"""A webhook body read once, as it arrives: hashed and parsed in one pass, keeping only Fyr's fields.

Building a whole document (pydantic's JSON tree, orjson's dicts) costs many times the body: a 22 MB
pipeline hook took ~224 MB, 22 MB of `[0,0,...]` ~380 MB. Here the body is never joined into one
bytes object: each chunk updates the SHA-256 the dedupe key needs and is pushed through yajl (ijson's
C backend); only the scalars at the paths in `SCALARS` and, per pipeline build, its id and
environment are kept. Memory is the chunk in hand plus those few fields, whatever the body's shape.
Bodies up to 256 KiB (nearly all) are parsed whole by orjson and the same fields selected: yajl's
events cost ~0.4 ms of Python per ordinary webhook, which the 500/s target cannot spare.

The result is a small dict shaped like the payload (so the pydantic models validate it unchanged);
`reshape` then moves fields older GitLab versions put elsewhere into the places the models read.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import ijson  # type: ignore[import-untyped]
import orjson

# Dotted paths of the scalars any hook kind contributes (top level, then nested objects).
SCALARS = frozenset({
    "object_kind", "event_name", "event_type", "sha", "ref", "build_id", "build_name", "build_status",
    "pipeline_id", "project_id", "project_name", "status", "deployment_id", "deployable_id",
    "environment", "environment_slug", "commit_url", "short_sha",
    "project.id", "project.path_with_namespace", "project.web_url", "project.homepage",
    "repository.homepage", "repository.git_http_url", "repository.url", "repository.name",
    "object_attributes.id", "object_attributes.iid", "object_attributes.sha", "object_attributes.status",
    "object_attributes.source", "object_attributes.url", "object_attributes.state",
    "object_attributes.action", "object_attributes.merge_commit_sha",
    "object_attributes.last_commit.id",
    "object_attributes.target.path_with_namespace", "object_attributes.target.web_url",
    "object_attributes.target.homepage",
    "merge_request.iid", "merge_request.url",
    "environment.name",
    "commit.sha", "job_id", "job_name", "job_status",
})
_BUILDS = ("builds", "item")
MAX_BUILDS_KEPT = 1000  # builds with an environment (deploy jobs); the rest are never read
SMALL_BODY = 256 * 1024


class NotJson(ValueError):
    """The body is not one JSON value (yajl's message, first line)."""


class TooLarge(ValueError):
    pass


@dataclass
class Extracted:
    fields: dict[str, Any]
    body_sha256: str
    size: int


_BUILD_FIELDS = {("id",): "id", ("environment", "name"): "environment"}
# Containers worth entering: every prefix of a wanted path (and the builds list); anything else is
# skipped by depth counting alone, the cheapest thing to do per event.
_CONTAINERS = frozenset({tuple(p.split(".")[:i]) for p in SCALARS for i in range(1, p.count(".") + 1)}
                        | {("builds",), _BUILDS, (*_BUILDS, "environment")})
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})


class _Collector:
    """Turns yajl's flat events into the kept fields; containers no wanted path runs through are
    skipped by counting their depth (a 25 MB array of small values is then mostly comparisons)."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self._path: list[str] = []  # names of the open containers below the root
        self._is_map: list[bool] = []
        self._key: str = ""
        self._skip = 0  # depth inside a container that is not interesting
        self._build: dict[str, Any] | None = None
        self._builds: list[dict[str, Any]] = []

    def feed(self, events: list[tuple[str, Any]]) -> None:
        open_, close = _OPEN, _CLOSE
        for event, value in events:
            if self._skip:
                if event in open_:
                    self._skip += 1
                elif event in close:
                    self._skip -= 1
                continue
            if event == "map_key":
                self._key = value
                continue
            if event in close:
                if self._build is not None and tuple(self._path) == _BUILDS:
                    if "environment" in self._build and len(self._builds) < MAX_BUILDS_KEPT:
                        self._builds.append(self._build)
                    self._build = None
                self._is_map.pop()
                if self._path:
                    self._path.pop()
                continue
            if event in open_:
                if self._is_map:  # the root container has no name
                    path = (*self._path, self._key if self._is_map[-1] else "item")
                    if path not in _CONTAINERS:
                        self._skip = 1
                        continue
                    self._path.append(path[-1])
                self._is_map.append(event == "start_map")
                if event == "start_map" and tuple(self._path) == _BUILDS:
                    self._build = {}
                continue
            if not self._is_map or not self._is_map[-1]:
                continue  # a scalar in an array: no wanted path ends in one
            if self._build is not None and len(self._path) >= 2:
                field = _BUILD_FIELDS.get((*self._path[2:], self._key))
                if field == "id":
                    self._build["id"] = value
                elif field == "environment":
                    self._build["environment"] = {"name": value}
                continue
            if ".".join((*self._path, self._key)) in SCALARS:
                _put(self.fields, (*self._path, self._key), value)

    def finish(self) -> dict[str, Any]:
        if self._builds:
            self.fields["builds"] = self._builds
        return self.fields


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[path[-1]] = value


class _Stream:
    """yajl fed chunk by chunk, its events handed to a _Collector."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = ijson.sendable_list()
        self.parser = ijson.basic_parse_coro(self.events, use_float=True)
        self.collector = _Collector()

    def send(self, chunk: bytes) -> None:
        self.parser.send(chunk)
        self.collector.feed(self.events)
        del self.events[:]

    def finish(self) -> dict[str, Any]:
        self.parser.close()
        self.collector.feed(self.events)
        return self.collector.finish()


def _spec() -> dict[str, tuple[list[bool], dict[str, Any]]]:
    """SCALARS as a tree: key -> ([scalar wanted here], children)."""
    spec: dict[str, Any] = {}
    for dotted in sorted(SCALARS):
        *parents, leaf = dotted.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, ([False], {}))[1]
        node.setdefault(leaf, ([False], {}))[0][0] = True
    return spec


_SPEC = _spec()


def _select_into(tree: dict[str, Any], spec: dict[str, Any], out: dict[str, Any]) -> None:
    for key, (scalar, children) in spec.items():
        if key not in tree:
            continue
        value = tree[key]
        if isinstance(value, dict):
            if children:
                nested: dict[str, Any] = {}
                _select_into(value, children, nested)
                if nested:
                    out[key] = nested
        elif scalar[0] and not isinstance(value, list):
            out[key] = value


def select(tree: Any) -> dict[str, Any]:
    """What _Collector keeps, taken from an already parsed document (a small body)."""
    fields: dict[str, Any] = {}
    if not isinstance(tree, dict):
        return fields
    _select_into(tree, _SPEC, fields)
    builds: list[dict[str, Any]] = []
    listed = tree.get("builds")
    for build in listed if isinstance(listed, list) else ():
        if not isinstance(build, dict):
            continue
        env = build.get("environment")
        name = env.get("name") if isinstance(env, dict) else None
        if name is not None and not isinstance(name, dict | list) and len(builds) < MAX_BUILDS_KEPT:
            kept: dict[str, Any] = {"environment": {"name": name}}
            if "id" in build and not isinstance(build["id"], dict | list):
                kept["id"] = build["id"]
            builds.append(kept)
    if builds:
        fields["builds"] = builds
    return fields


async def extract(chunks: AsyncIterator[bytes], limit: int, *, small_body: int = SMALL_BODY) -> Extracted:
    """Read `chunks` (at most `limit` bytes) once; raise NotJson or TooLarge.

    A body up to SMALL_BODY bytes is parsed whole by orjson (its tree is small in absolute terms,
    and that is the cheapest per webhook); past it the body is streamed through yajl from then on.
    """
    digest = hashlib.sha256()
    buffered: list[bytes] = []
    stream: _Stream | None = None
    size = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"body larger than {limit} bytes")
            digest.update(chunk)
            if stream is not None:
                stream.send(chunk)
                continue
            buffered.append(chunk)
            if size > small_body:
                stream = _Stream()
                for early in buffered:
                    stream.send(early)
                buffered = []
        if stream is None:
            try:
                return Extracted(fields=select(orjson.loads(b"".join(buffered))),
                                 body_sha256=digest.hexdigest(), size=size)
            except orjson.JSONDecodeError:
                # yajl has the last word on what is JSON (orjson stops at 1,024 levels of nesting
                # and at lone surrogates), so both paths accept the same bodies.
                stream = _Stream()
                for early in buffered:
                    stream.send(early)
        fields = stream.finish()
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise NotJson(str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid JSON") from None
    return Extracted(fields=fields, body_sha256=digest.hexdigest(), size=size)


def _url_path(url: Any) -> str | None:
    """`group/sub/project` from a project's web URL or HTTP clone URL."""
    if not isinstance(url, str) or "://" not in url:
        return None
    path = urlsplit(url).path.strip("/")
    path = path[:-4] if path.endswith(".git") else path
    return path or None


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def reshape(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Move what older GitLab versions send elsewhere to where the models read it (pure).

    - Job hook before ~16.3: no `project` object; `project_id`, `project_name` (a display name on
      gitlab.com, the path on older instances) and `repository.homepage` instead. The path comes
      from the homepage URL (then the HTTP clone URL, then a path-shaped project_name).
    - `job_*` field names (some client libraries' recordings) for the `build_*` ones.
    - Merge request system hook: no `object_attributes.url`; built from the target project's web
      URL and the iid. No `project`: the target project.
    """
    out = dict(fields)
    project = _object(out.get("project"))
    repository = _object(out.get("repository"))
    attrs = _object(out.get("object_attributes"))
    target = _object(attrs.get("target"))
    if kind == "build":
        for old, new in (("job_id", "build_id"), ("job_name", "build_name"), ("job_status", "build_status")):
            if new not in out and old in out:
                out[new] = out[old]
        if isinstance(out.get("environment"), str):  # a name where newer versions send an object
            out["environment"] = {"name": out["environment"]}
    if kind == "deployment" and isinstance(out.get("environment"), dict):
        out["environment"] = out["environment"].get("name")
    if "path_with_namespace" not in project:
        name = out.get("project_name")
        path = (target.get("path_with_namespace") or _url_path(repository.get("homepage"))
                or _url_path(repository.get("git_http_url"))
                or (name if isinstance(name, str) and "/" in name and " " not in name else None))
        if path is not None:
            project["path_with_namespace"] = path
    if "web_url" not in project:
        web = target.get("web_url") or project.get("homepage") or repository.get("homepage")
        if web is not None:
            project["web_url"] = web
    if "id" not in project and isinstance(out.get("project_id"), int):
        project["id"] = out["project_id"]
    if project:
        out["project"] = project
    if kind == "merge_request" and attrs and "url" not in attrs:
        base = target.get("web_url") or project.get("web_url")
        if isinstance(base, str) and isinstance(attrs.get("iid"), int):
            attrs["url"] = f"{base.rstrip('/')}/-/merge_requests/{attrs['iid']}"
            out["object_attributes"] = attrs
    return out
