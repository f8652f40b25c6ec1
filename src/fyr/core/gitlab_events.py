"""What a GitLab webhook or an annotate call contributes to correlation, in plain data (no I/O).

The ingestor builds these from the parsed hooks (fyr.services.gitlab_ingestor.logic); fyr.db.gitlab
stages and attaches them. The matching rules themselves are in fyr.core.gitlab_match.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Staging:
    """One upsert into gitlab_metadata. None means "this event does not say"."""

    project_path: str
    environment: str
    commit_sha: str
    pipeline_id: int | None = None
    pipeline_url: str | None = None
    mr_url: str | None = None
    job_id: int | None = None
    deployment_status: str | None = None
    team: str | None = None
    slack_channel: str | None = None
    explicit: bool = False  # annotate: the caller's word replaces what is there


@dataclass(frozen=True)
class JobLink:
    """A job id seen with its pipeline: deploy rows that know only the job learn the pipeline."""

    job_id: int
    pipeline_id: int
    pipeline_url: str | None


@dataclass(frozen=True)
class GitlabEvent:
    """Everything one webhook contributes (the ingestor builds it)."""

    project_path: str
    commit_sha: str
    stagings: tuple[Staging, ...]
    job_links: tuple[JobLink, ...] = ()
    deployable_id: int | None = None  # Deployment hook: its job, to find the pipeline
    deploy_env: str | None = None  # Deployment hook: environment key of its row
    deploy_env_name: str | None = None  # Deployment hook: the name, when it differs from the slug


@dataclass(frozen=True)
class Annotation:
    """POST /api/v1/rollouts/annotate in plain data."""

    cluster: str
    namespace: str
    deployment: str
    commit: str | None = None
    project: str | None = None
    environment: str | None = None
    pipeline_url: str | None = None
    mr_url: str | None = None
    team: str | None = None
    slack_channel: str | None = None
    kind: str = "Deployment"  # or StatefulSet / DaemonSet
