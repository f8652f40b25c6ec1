"""The routing file: which team owns a GitLab project and which Slack channel hears about it.

docs/architecture.md 'GitLab correlation': team and channel come from the workload's annotations, else from this file,
else from the default channel. The file is YAML, a list of rules tried in order:

```yaml
- project: "acme/shop-*"        # fnmatch glob over the GitLab project path (path_with_namespace)
  team: payments
  slack_channel: "#payments-alerts"
- project: "acme/**"
  team: platform
  slack_channel: "#platform-deploys"
```

(`{routes: [...]}` is accepted too.) Routing is applied when the message is addressed (the
notifier), not stored on the rollout by the ingestor: a stored guess could not be told apart from
an explicit annotation later, and an edited routing file takes effect on the next message.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fyr.errors import ConfigError


@dataclass(frozen=True)
class Route:
    """Where a rollout's message goes; either part may be unknown."""

    team: str | None
    slack_channel: str | None


@dataclass(frozen=True)
class RouteRule:
    project: str | None
    team: str | None
    slack_channel: str | None

    def matches_project(self, project: str) -> bool:
        # fnmatchcase: `*` crosses `/`, so "acme/*" covers subgroups too; GitLab paths are
        # case-insensitive, so compare lower-cased.
        if self.project is None:
            return False
        pattern = self.project.lower()
        if "/" not in project:
            # A path always has a "/": this is a CI_PROJECT_PATH_SLUG (`app.gitlab.com/app`, all a
            # rollout may know without webhooks); match it against the glob slugified the same way.
            pattern = re.sub(r"[^a-z0-9*?\[\]!]", "-", pattern)
        return fnmatch.fnmatchcase(project.lower(), pattern)


@dataclass(frozen=True)
class Routing:
    rules: tuple[RouteRule, ...] = ()

    def route_for(self, project: str | None, team: str | None = None) -> Route | None:
        """First rule whose glob matches the project; else the first rule naming the team.

        `project` is the GitLab path (`acme/shop-api`) or, failing that, its slug (`acme-shop-api`).
        """
        if project:
            for rule in self.rules:
                if rule.matches_project(project):
                    return Route(team=rule.team, slack_channel=rule.slack_channel)
        if team:
            for rule in self.rules:
                if rule.team is not None and rule.team == team:
                    return Route(team=rule.team, slack_channel=rule.slack_channel)
        return None


def _text(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    return str(value).strip()


def parse_routing(data: Any, *, source: str = "routing file") -> Routing:
    """Validate the loaded YAML; every problem is one ConfigError line naming the rule."""
    if data is None:
        return Routing()
    if isinstance(data, dict) and set(data) == {"routes"}:
        data = data["routes"]
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of rules (project, team, slack_channel)")
    rules: list[RouteRule] = []
    for index, entry in enumerate(data, start=1):
        where = f"{source}: rule {index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with project, team, slack_channel")
        unknown = set(entry) - {"project", "team", "slack_channel"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        project = _text(entry, "project", where)
        team = _text(entry, "team", where)
        channel = _text(entry, "slack_channel", where)
        if project is None and team is None:
            raise ConfigError(f"{where}: needs a project glob or a team")
        if team is None and channel is None:
            raise ConfigError(f"{where}: needs a team or a slack_channel")
        rules.append(RouteRule(project=project, team=team, slack_channel=channel))
    return Routing(rules=tuple(rules))


def load_routing(path: Path | None) -> Routing:
    """Read the routing file; None means no routing (every rollout falls to the default channel)."""
    if path is None:
        return Routing()
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"routing file {path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"routing file {path}: not valid YAML{at}") from None
    return parse_routing(data, source=f"routing file {path}")
