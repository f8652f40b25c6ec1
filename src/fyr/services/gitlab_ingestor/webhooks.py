"""The parts of GitLab's webhook payloads Fyr reads (docs/wire-formats.md 'Payloads'), and the annotate request.

Only the fields used for correlation are declared; everything else GitLab sends is ignored, so a
new GitLab version adding fields changes nothing. Lengths and ranges are bounded to what the
tables hold, so a hostile or broken body is a 422, never a database error.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

_HEX = re.compile(r"[0-9a-f]{7,64}")
BIGINT_MAX = 2**63 - 1


def _sha(value: str) -> str:
    value = value.strip().lower()
    if not _HEX.fullmatch(value):
        raise ValueError("must be a hex commit SHA (7 to 64 characters)")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Sha = Annotated[str, AfterValidator(_sha)]
Id = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_nul)]
Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_no_nul)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Project(_Lenient):
    id: Id | None = None
    path_with_namespace: Name
    web_url: Url | None = None


class BuildEnvironment(_Lenient):
    name: Name


class MergeRequestRef(_Lenient):
    iid: Id | None = None
    url: Url | None = None


class PipelineAttributes(_Lenient):
    id: Id
    sha: Sha
    status: Name | None = None
    source: Name | None = None
    url: Url | None = None


class PipelineBuild(_Lenient):
    id: Id
    name: Name | None = None
    status: Name | None = None
    environment: BuildEnvironment | None = None


class PipelineHook(_Lenient):
    object_kind: Literal["pipeline"]
    object_attributes: PipelineAttributes
    merge_request: MergeRequestRef | None = None
    project: Project
    builds: list[PipelineBuild] = Field(default_factory=list)


class JobHook(_Lenient):
    object_kind: Literal["build"]
    sha: Sha
    build_id: Id
    build_name: Name | None = None
    build_status: Name | None = None
    pipeline_id: Id | None = None
    project: Project
    environment: BuildEnvironment | None = None


class DeploymentHook(_Lenient):
    object_kind: Literal["deployment"]
    status: Annotated[Name, StringConstraints(max_length=32)]
    deployment_id: Id | None = None
    deployable_id: Id | None = None
    environment: Name
    environment_slug: Name | None = None
    project: Project
    commit_url: Url
    short_sha: str | None = None

    @field_validator("commit_url")
    @classmethod
    def _ends_in_sha(cls, value: str) -> str:
        # The hook has no full SHA field: it is the last path segment of commit_url (A5).
        path = urlsplit(value).path.rstrip("/")
        _sha(path.rsplit("/", 1)[-1])
        return value

    @property
    def sha(self) -> str:
        return urlsplit(self.commit_url).path.rstrip("/").rsplit("/", 1)[-1].lower()


class LastCommit(_Lenient):
    id: Sha


class MergeRequestAttributes(_Lenient):
    iid: Id | None = None
    url: Url
    state: Name | None = None
    action: Name | None = None
    last_commit: LastCommit | None = None
    merge_commit_sha: Sha | None = None


class MergeRequestHook(_Lenient):
    object_kind: Literal["merge_request"]
    object_attributes: MergeRequestAttributes
    project: Project


Hook = PipelineHook | JobHook | DeploymentHook | MergeRequestHook

# X-Gitlab-Event -> (metrics/log label, model)
EVENT_MODELS: dict[str, tuple[str, type[Hook]]] = {
    "Pipeline Hook": ("pipeline", PipelineHook),
    "Job Hook": ("build", JobHook),
    "Deployment Hook": ("deployment", DeploymentHook),
    "Merge Request Hook": ("merge_request", MergeRequestHook),
}
KIND_MODELS: dict[str, type[Hook]] = {kind: model for kind, model in EVENT_MODELS.values()}
# Body object_kind spellings seen in recorded payloads for the same event.
KIND_ALIASES = {"job": "build"}


class AnnotateRequest(BaseModel):
    """POST /api/v1/rollouts/annotate: a deploy job names its Deployment and what it deployed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: Name | None = Field(None, description="defaults to the ingestor's CLUSTER_NAME")
    namespace: Name = Field(description="Kubernetes namespace of the Deployment")
    deployment: Name = Field(description="Kubernetes workload name (a Deployment unless `kind` says otherwise)")
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = Field(
        "Deployment", description="the workload's kind: Deployment, StatefulSet or DaemonSet")
    commit: Sha | None = Field(None, description="$CI_COMMIT_SHA (or a prefix of at least 7)")
    project: Name | None = Field(None, description="$CI_PROJECT_PATH, e.g. acme/shop-api")
    environment: Name | None = Field(None, description="$CI_ENVIRONMENT_SLUG")
    pipeline_url: Url | None = Field(None, description="$CI_PIPELINE_URL")
    mr_url: Url | None = Field(None, description="merge request web URL")
    team: Name | None = None
    slack_channel: Name | None = None


class AnnotateResponse(BaseModel):
    status: Literal["attached", "staged"]
    rollout_ids: list[int]
    team: str | None = Field(None, description="team the message will be addressed to, as known now")
    slack_channel: str | None = Field(None, description="channel, as known now (routing applied)")


class WebhookResponse(BaseModel):
    status: Literal["accepted", "duplicate", "ignored"]
