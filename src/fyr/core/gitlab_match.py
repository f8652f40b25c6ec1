"""Pure matching rules of GitLab correlation (docs/architecture.md 'GitLab correlation'): which staged row fits which
rollout, and which rollout fields it may fill. No I/O: fyr.db.gitlab runs the queries and calls these.

Precedence: values from Deployment annotations are not overwritten by webhook data; webhook data
replaces only values that webhook data put there (a value still staged) — with one exception: a
pipeline URL of the same project with a lower id gives way to the newer pipeline (a re-run
deploying the same commit), whoever wrote it. An explicit annotate call (`k8s:` rows) replaces what
it names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from fyr.models.gitlab import GitlabMetadata
from fyr.models.rollout import Rollout

WINDOW = timedelta(minutes=30)  # commit-less joins: deploy activity this close to the rollout start
K8S_PREFIX = "k8s:"
_HEX = re.compile(r"[0-9a-f]{7,64}")
_ENV_SLUG = re.compile(r"[a-z][a-z0-9-]{0,22}[a-z0-9]|[a-z]")
_HEX_TAG = re.compile(r"^[0-9a-f]{7,40}$")

_GIT_FIELDS = ("pipeline_url", "mr_url", "team", "slack_channel")


def project_slug(path: str) -> str:
    """CI_PROJECT_PATH_SLUG: lower-cased, non [a-z0-9] → '-', at most 63 bytes, no edge hyphens."""
    slug = re.sub(r"[^a-z0-9]", "-", path.lower())[:63]
    return slug.strip("-")


def slug_is_name(environment: str) -> bool:
    """GitLab keeps an environment name as its slug only when it is already slug-shaped
    (lower-case alphanumerics and single dashes, starting with a letter, at most 24 characters);
    otherwise the slug gets a random suffix and cannot be recomputed from the name."""
    return bool(_ENV_SLUG.fullmatch(environment)) and "--" not in environment


def image_commit_prefix(image: str | None) -> str | None:
    """An image tag that is a hex prefix (≥ 7) of a commit SHA names the commit."""
    if not image or "@" in image.rsplit("/", 1)[-1]:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1].lower()
    return tag if _HEX_TAG.match(tag) else None


def rollout_commit(rollout: Rollout) -> str | None:
    """The commit (or prefix) the rollout names: annotation first, then a hex image tag."""
    return commit_of(rollout.git_commit, rollout.image)


def commit_of(git_commit: str | None, image: str | None) -> str | None:
    if git_commit:
        commit = git_commit.strip().lower()
        if _HEX.fullmatch(commit):
            return commit
    return image_commit_prefix(image)


def k8s_path(cluster: str, namespace: str, deployment: str, kind: str = "Deployment") -> str:
    """The pseudo project path under which annotate calls for one workload are staged (a Deployment's
    as it always was; other kinds with the kind before the name)."""
    name = deployment if kind == "Deployment" else f"{kind}/{deployment}"
    path = f"{K8S_PREFIX}{cluster}/{namespace}/{name}"
    if len(path) > 255:
        path = K8S_PREFIX + hashlib.sha256(path.encode()).hexdigest()
    return path


def prefix_compatible(a: str, b: str) -> bool:
    return bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))


_PIPELINE_URL = re.compile(r"^(?P<project>.+)/-/pipelines/(?P<id>\d+)/?$")


def older_pipeline(current: str, new: str) -> bool:
    """Both GitLab pipeline URLs of one project, `current` with the lower id."""
    a, b = _PIPELINE_URL.match(current), _PIPELINE_URL.match(new)
    return bool(a and b and a["project"] == b["project"] and int(a["id"]) < int(b["id"]))


def near(moment: datetime | None, other: datetime | None) -> bool:
    if moment is None or other is None:
        return False
    return abs(moment - other) <= WINDOW


def apply_explicit(rollout: Rollout, row: GitlabMetadata) -> bool:
    changed = False
    if row.commit_sha:
        current = (rollout.git_commit or "").lower()
        if not current or (row.commit_sha.startswith(current) and current != row.commit_sha):
            rollout.git_commit, changed = row.commit_sha, True
    for field in _GIT_FIELDS:
        value = getattr(row, field)
        if value is not None and getattr(rollout, field) != value:
            setattr(rollout, field, value)
            changed = True
    return changed


def ordered_rows(rows: Iterable[GitlabMetadata], env: str | None) -> list[GitlabMetadata]:
    """Deploy rows for the rollout's environment first (newest first), then commit rows."""
    rows = list(rows)
    deploy = [r for r in rows if r.environment and (env is None or r.environment == env)]
    if env is None and len({r.environment for r in deploy}) > 1:
        deploy = []  # the rollout does not say which environment: do not guess between several
    commit = [r for r in rows if not r.environment]

    def newest(r: GitlabMetadata) -> datetime:
        return r.updated_at

    return sorted(deploy, key=newest, reverse=True) + sorted(commit, key=newest, reverse=True)


def apply_gitlab_rows(rollout: Rollout, rows: list[GitlabMetadata]) -> bool:
    ordered = ordered_rows(rows, rollout.gitlab_env)
    if not ordered:
        return False
    changed = False
    first = ordered[0]
    if rollout.git_project is None:
        rollout.git_project, changed = first.project_path, True
    sha = max((r.commit_sha for r in ordered), key=len)
    current = (rollout.git_commit or "").lower()
    if not current or (sha.startswith(current) and current != sha):
        rollout.git_commit, changed = sha, True
    for field in _GIT_FIELDS:
        value = next((getattr(r, field) for r in ordered if getattr(r, field)), None)
        if value is None:
            continue
        staged_values = {getattr(r, field) for r in rows}
        current_value = getattr(rollout, field)
        # Replace only what staging put there: a value still staged, or an older pipeline of the
        # same project (staging moved on to a newer one). An annotation's value is neither.
        if current_value is None or (current_value != value and (
                current_value in staged_values
                or (field == "pipeline_url" and older_pipeline(current_value, value)))):
            setattr(rollout, field, value)
            changed = True
    return changed
