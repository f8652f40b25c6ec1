"""The rollout bundle (docs/contracts.md 'The bundle'): one failed rollout's evidence in one JSON file.

`fyr collect` writes it from a live cluster, `fyr analyze` reads it, the tests use it as fixtures
and users attach it to bug reports, so its shape is a contract. Raw Kubernetes objects stay
camelCase dicts exactly as the API returns them; we validate only what the analyzer reads, so a
broken file fails at load time with one line naming the problem instead of deep in the pipeline.

Workloads of the other kinds `kubectl rollout status` knows (StatefulSet, DaemonSet) keep
`apiVersion: fyr/v1`: the workload object goes under `workload` (its `kind` says which), with its
`controller_revisions`, the update revision's `pods` and the old revision's `old_pods` (marked by
being apart: they never explain the new rollout). A Deployment bundle is written exactly as before,
and every existing one reads unchanged. In Python, `bundle.deployment` is the workload of any kind.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from fyr.errors import BadBundle

API_VERSION: Final = "fyr/v1"
KIND: Final = "RolloutBundle"


def _require_mapping(obj: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{what}.{key} must be an object")
    return value


def _check_metadata(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{what} must be an object")
    meta = _require_mapping(obj, "metadata", what)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what}.metadata.name must be a non-empty string")
    return obj


class LogEntry(BaseModel):
    """One container's log text, current or the previous (crashed) instance."""

    model_config = ConfigDict(extra="forbid")

    pod: str = Field(min_length=1)
    container: str = Field(min_length=1)
    previous: bool = False
    text: str = ""


class GitInfo(BaseModel):
    """What the GitLab side knows about the change, when it is known."""

    model_config = ConfigDict(extra="ignore")

    project: str | None = None
    commit: str | None = None
    pipeline_url: str | None = None
    mr_url: str | None = None
    team: str | None = None
    slack_channel: str | None = None


class RolloutBundle(BaseModel):
    """`{"apiVersion": "fyr/v1", "kind": "RolloutBundle", ...}`: see docs/contracts.md 'The bundle'"""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    api_version: Literal["fyr/v1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["RolloutBundle"] = KIND
    cluster: str = Field(min_length=1)
    collected_at: datetime
    deployment: dict[str, Any] = Field(validation_alias=AliasChoices("deployment", "workload"))
    replicasets: list[dict[str, Any]] = Field(default_factory=list)
    controller_revisions: list[dict[str, Any]] = Field(default_factory=list)
    pods: list[dict[str, Any]] = Field(default_factory=list)
    old_pods: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    logs: list[LogEntry] = Field(default_factory=list)
    git: GitInfo | None = None

    @field_validator("collected_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a timezone (e.g. 2026-11-27T10:00:00Z)")
        return value

    @field_validator("deployment")
    @classmethod
    def _deployment(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_metadata(value, "deployment")
        spec = _require_mapping(value, "spec", "deployment")
        template = _require_mapping(spec, "template", "deployment.spec")
        tspec = _require_mapping(template, "spec", "deployment.spec.template")
        if not isinstance(tspec.get("containers"), list) or not tspec["containers"]:
            raise ValueError("deployment.spec.template.spec.containers must be a non-empty list")
        return value

    @field_validator("replicasets")
    @classmethod
    def _replicasets(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, rs in enumerate(value):
            _check_metadata(rs, f"replicasets[{i}]")
        return value

    @field_validator("pods", "old_pods", "controller_revisions")
    @classmethod
    def _pods(cls, value: list[dict[str, Any]], info: ValidationInfo) -> list[dict[str, Any]]:
        for i, pod in enumerate(value):
            _check_metadata(pod, f"{info.field_name}[{i}]")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, ev in enumerate(value):
            if not isinstance(ev, dict):
                raise ValueError(f"events[{i}] must be an object")
        return value

    @property
    def workload_kind(self) -> str:
        """Deployment, StatefulSet or DaemonSet (a bundle without `kind` is a Deployment's)."""
        kind = self.deployment.get("kind")
        return kind if kind in ("StatefulSet", "DaemonSet") else "Deployment"

    @property
    def namespace(self) -> str:
        meta = self.deployment.get("metadata", {})
        return str(meta.get("namespace") or "default")

    @property
    def name(self) -> str:
        return str(self.deployment["metadata"]["name"])

    def to_json_dict(self) -> dict[str, Any]:
        """The bundle as written to disk (camelCase `apiVersion`, ISO timestamps)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=False)
        if data.get("git") is None:
            data.pop("git", None)
        if self.workload_kind == "Deployment":
            del data["controller_revisions"], data["old_pods"]
        else:
            data = {("workload" if k == "deployment" else k): v for k, v in data.items()}
        return data


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "bundle"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "literal_error" and loc in ("apiVersion", "kind"):
        return f"{loc} must be {err['ctx']['expected']}, got {err['input']!r}"
    head = loc.split(".")[0]
    if msg.startswith(head):  # our validators already name the field path
        return msg
    return f"{loc}: {msg}"


def parse_bundle(data: Any, *, source: str = "bundle") -> RolloutBundle:
    """Validate an already-decoded bundle; BadBundle names the first problem in one line."""
    if not isinstance(data, dict):
        raise BadBundle(f"{source}: top level must be a JSON object")
    if data.get("apiVersion") != API_VERSION:
        raise BadBundle(f"{source}: apiVersion must be {API_VERSION!r}, got {data.get('apiVersion')!r}")
    if data.get("kind") != KIND:
        raise BadBundle(f"{source}: kind must be {KIND!r}, got {data.get('kind')!r}")
    try:
        return RolloutBundle.model_validate(data)
    except ValidationError as exc:
        raise BadBundle(f"{source}: {_first_error(exc)}") from None


def load_bundle(path: Path) -> RolloutBundle:
    """Read and validate a bundle file; every failure is a one-line BadBundle."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadBundle(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadBundle(f"{path}: is a directory, not a bundle file") from None
    except OSError as exc:
        raise BadBundle(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise BadBundle(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise BadBundle(f"{path}: not valid JSON: {exc.msg} at {where}") from None
    return parse_bundle(data, source=str(path))


def dump_bundle(bundle: RolloutBundle, path: Path) -> None:
    """Write a bundle as pretty JSON (what `fyr collect -o FILE` produces)."""
    path.write_text(json.dumps(bundle.to_json_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
