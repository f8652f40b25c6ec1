"""Routing file: project glob -> team and Slack channel (docs/architecture.md 'GitLab correlation')."""

from __future__ import annotations

from pathlib import Path

import pytest

from fyr.core.routing import Route, Routing, load_routing, parse_routing
from fyr.errors import ConfigError

ROUTES = """
- project: "acme/shop-*"
  team: payments
  slack_channel: "#payments-alerts"
- project: "acme/*"
  team: platform
  slack_channel: "#platform"
- team: search
  slack_channel: "#search-oncall"
"""


@pytest.fixture
def routing(tmp_path: Path) -> Routing:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTES)
    return load_routing(path)


def test_first_matching_glob_wins(routing: Routing) -> None:
    assert routing.route_for("acme/shop-api") == Route(team="payments", slack_channel="#payments-alerts")
    assert routing.route_for("acme/billing") == Route(team="platform", slack_channel="#platform")


def test_glob_crosses_subgroups_and_ignores_case(routing: Routing) -> None:
    assert routing.route_for("ACME/infra/dns") == Route(team="platform", slack_channel="#platform")


def test_team_name_routes_when_no_project_matches(routing: Routing) -> None:
    search = Route(team="search", slack_channel="#search-oncall")
    assert routing.route_for("other/thing", team="search") == search
    payments = Route(team="payments", slack_channel="#payments-alerts")
    assert routing.route_for(None, team="payments") == payments


def test_no_match_is_none(routing: Routing) -> None:
    assert routing.route_for("other/thing") is None
    assert routing.route_for(None) is None
    assert Routing().route_for("acme/shop-api") is None


def test_no_file_means_no_routing() -> None:
    assert load_routing(None) == Routing()


def test_routes_key_is_accepted() -> None:
    routing = parse_routing({"routes": [{"project": "a/*", "slack_channel": "#a"}]})
    assert routing.route_for("a/b") == Route(team=None, slack_channel="#a")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- project: [unclosed", "not valid YAML at line 1"),
        ("project: a", "expected a list"),
        ("- 42", "rule 1: expected a mapping"),
        ("- project: a/*\n  team: t\n  channel: '#x'", "unknown key 'channel'"),
        ("- slack_channel: '#x'", "needs a project glob or a team"),
        ("- project: a/*", "needs a team or a slack_channel"),
        ("- project: ''\n  team: t", "'project' must be a non-empty string"),
    ],
)
def test_bad_file_is_one_line_config_error(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_routing(path)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert str(path) in message


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_routing(tmp_path / "absent.yaml")


def test_project_slug_matches_the_slugified_glob(routing: Routing) -> None:
    # A rollout known only from its `app.gitlab.com/app` annotation has the slug, not the path.
    assert routing.route_for("acme-shop-api") == Route(team="payments", slack_channel="#payments-alerts")
    assert routing.route_for("acme-billing") == Route(team="platform", slack_channel="#platform")
    assert routing.route_for("other-thing") is None
