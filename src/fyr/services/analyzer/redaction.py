"""The analyzer's redaction boundary: a raw bundle becomes a `RedactedBundle`, once, on entry.

Every later stage (signals, digests, rules, reduction, the chain, storage, rendering) takes a
`RedactedBundle` or what was derived from one, so "no raw secret past this point" is carried by a
type instead of a call each stage must remember. Built only by `redact_bundle`:

1. the secrets the pod spec holds are collected from the raw objects (`pod_spec_literals`): env
   values that are credentials by their name or look like passwords, arguments after credential
   flags, query values and header values of probes, passwords inside URLs;
2. every log text and every string of the Kubernetes objects is normalised and redacted by the
   shape, context and entropy layers (fyr.core.redaction), which also reports what it masked;
3. those found secrets and the pod-spec values, in every encoding, are masked wherever else they
   appear, in one Aho-Corasick pass per text.

The bundle keeps the set of masked values (never serialised) so that whatever leaves the process can
be *checked* against them (`RedactedBundle.check`), failing closed, instead of redacted a second
time. Env values are masked as `****#<tag>`: the tag is an HMAC under a key made for this bundle, so
the template diff can still tell "value changed" from "unchanged" without any value being shown.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fyr.core.redaction import MASK, Literals, Redactor, check_clean, find_secrets, redact_text
from fyr.core.redaction.keys import is_credential_key, is_evidence, is_placeholder
from fyr.core.redaction.literals import MIN_LITERAL
from fyr.models.bundle import GitInfo, LogEntry, RolloutBundle

__all__ = ["MASK", "RedactedBundle", "find_secrets", "pod_spec_literals", "redact_bundle", "redact_k8s_object",
           "redact_text"]

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_Tag = Callable[[str], str]


# --- what the pod spec holds ---------------------------------------------------------------------
def _containers(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = obj.get("spec") or {}
    if "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, Mapping):
                yield c


def env_value_is_secret(name: str, value: str) -> bool:
    """An env value to mask everywhere: named as a credential, or shaped like a password."""
    value = value.strip()
    if len(value) < MIN_LITERAL or is_placeholder(value):
        return False
    if is_credential_key(name):
        return True
    if "://" in value or any(c.isspace() for c in value) or is_evidence(value):
        return False
    classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value),
                   any(c.isdigit() for c in value), any(not c.isalnum() for c in value)))
    return classes >= 3 or (classes == 2 and len(value) >= 12)


def _flag_values(args: list[Any]) -> Iterator[str]:
    """Values that follow a credential flag: `--api-token X`, `--password=X`, `-pX` after mysql."""
    strings = [a for a in args if isinstance(a, str)]
    for i, arg in enumerate(strings):
        yield from find_secrets(arg)
        if not arg.startswith("-"):
            continue
        flag, eq, value = arg.partition("=")
        if is_credential_key(flag):
            if eq:
                yield value
            elif i + 1 < len(strings) and not strings[i + 1].startswith("-"):
                yield strings[i + 1]


def _probe_values(probe: Any) -> Iterator[str]:
    if not isinstance(probe, Mapping):
        return
    http = probe.get("httpGet") or {}
    path = str(http.get("path") or "")
    if "?" in path:
        yield from (v for _, v in parse_qsl(urlsplit(path).query, keep_blank_values=False))
    for header in http.get("httpHeaders") or []:
        if isinstance(header, Mapping) and isinstance(header.get("value"), str):
            yield header["value"]
    command = (probe.get("exec") or {}).get("command") or []
    yield from _flag_values(list(command))


def pod_spec_literals(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every secret value the pod templates / pods of `objects` hold (see the module docstring)."""
    values: set[str] = set()
    for obj in objects:
        for c in _containers(obj):
            for env in c.get("env") or []:
                value = env.get("value") if isinstance(env, Mapping) else None
                if not isinstance(value, str):
                    continue
                if env_value_is_secret(str(env.get("name", "")), value):
                    values.add(value.strip())
                values.update(find_secrets(value))
            values.update(_flag_values([*(c.get("command") or []), *(c.get("args") or [])]))
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                values.update(_probe_values(c.get(probe)))
    return {v for v in values if len(v) >= MIN_LITERAL and "\n" not in v and not is_placeholder(v)}


# --- redacting Kubernetes objects -------------------------------------------------------------------
def _redact_args(args: list[Any], text: Callable[[str], str]) -> list[Any]:
    out: list[Any] = []
    mask_next = False
    for item in args:
        if not isinstance(item, str):
            out.append(item)
            mask_next = False
            continue
        out.append(MASK if mask_next and not item.startswith("-") else text(item))
        mask_next = item.startswith("-") and "=" not in item and is_credential_key(item)
    return out


def _redact_env(env: list[Any], text: Callable[[str], str], tag: _Tag | None) -> list[Any]:
    out: list[Any] = []
    for var in env:
        if isinstance(var, Mapping):
            copy = {k: _walk(v, text, tag) for k, v in var.items() if k != "value"}
            if "value" in var:
                copy["value"] = MASK if tag is None else f"{MASK}#{tag(str(var['value']))}"
            out.append(copy)
        else:
            out.append(_walk(var, text, tag))
    return out


def _redact_mapping(obj: Mapping[str, Any], text: Callable[[str], str], tag: _Tag | None) -> dict[str, Any]:
    is_secret = obj.get("kind") == "Secret"
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "env" and isinstance(value, list):
            out[key] = _redact_env(value, text, tag)
        elif key in ("args", "command") and isinstance(value, list):
            out[key] = _redact_args(value, text)
        elif key == "annotations" and isinstance(value, Mapping):
            out[key] = _redact_mapping({k: v for k, v in value.items() if k != _LAST_APPLIED}, text, tag)
        elif is_secret and key in ("data", "stringData") and isinstance(value, Mapping):
            out[key] = {k: MASK for k in value}
        elif isinstance(value, str) and is_credential_key(key) and not is_placeholder(value):
            out[key] = MASK  # e.g. an annotation `ci/deploy-token: ...`: its key says what it is
        elif key == "httpHeaders" and isinstance(value, list):
            out[key] = [{**h, "value": MASK} if isinstance(h, Mapping) and "value" in h else h for h in value]
        else:
            out[key] = _walk(value, text, tag)
    return out


def _walk(value: Any, text: Callable[[str], str], tag: _Tag | None) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, Mapping):
        return _redact_mapping(value, text, tag)
    if isinstance(value, list):
        return [_walk(v, text, tag) for v in value]
    return value


def redact_k8s_object(obj: Mapping[str, Any], *, text: Callable[[str], str] = redact_text,
                      tag: _Tag | None = None) -> dict[str, Any]:
    """A redacted deep copy of a Kubernetes object: env values masked (names and references kept), Secret
    data masked, the last-applied annotation dropped, the argument after a credential flag masked, every
    other string through `text`."""
    return _redact_mapping(obj, text, tag)


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return value


# --- the boundary type ----------------------------------------------------------------------------
_BUILD = object()


class RedactedBundle:
    """A rollout bundle with every secret masked; only `redact_bundle` makes one."""

    __slots__ = ("bundle", "literals", "masked")

    def __init__(self, bundle: RolloutBundle, literals: Literals, masked: int, *, _key: object = None) -> None:
        if _key is not _BUILD:
            raise TypeError("a RedactedBundle is made by redact_bundle(), never by hand")
        self.bundle, self.literals, self.masked = bundle, literals, masked

    # the RolloutBundle's reading surface, so stages read a RedactedBundle as they read a bundle
    @property
    def cluster(self) -> str:
        return self.bundle.cluster

    @property
    def namespace(self) -> str:
        return self.bundle.namespace

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def collected_at(self) -> Any:
        return self.bundle.collected_at

    @property
    def deployment(self) -> dict[str, Any]:
        return self.bundle.deployment

    @property
    def replicasets(self) -> list[dict[str, Any]]:
        return self.bundle.replicasets

    @property
    def workload_kind(self) -> str:
        return self.bundle.workload_kind

    @property
    def controller_revisions(self) -> list[dict[str, Any]]:
        return self.bundle.controller_revisions

    @property
    def old_pods(self) -> list[dict[str, Any]]:
        return self.bundle.old_pods

    @property
    def pods(self) -> list[dict[str, Any]]:
        return self.bundle.pods

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.bundle.events

    @property
    def logs(self) -> list[LogEntry]:
        return self.bundle.logs

    @property
    def git(self) -> GitInfo | None:
        return self.bundle.git

    def check(self, value: Any, *, where: str) -> None:
        """Fail closed (SecretLeak) if `value` holds a value masked here or a credential by its shape."""
        check_clean(value, where=where, literals=self.literals)


def redact_bundle(raw: RolloutBundle) -> RedactedBundle:
    """The one redaction of a bundle (see the module docstring)."""
    spec_values = pod_spec_literals([raw.deployment, *raw.replicasets, *raw.pods, *raw.old_pods,
                                     *raw.controller_revisions])
    found: list[str] = []
    first = Redactor(Literals())

    def text(value: str) -> str:
        return first.redact(value, found)

    key = secrets.token_bytes(16)

    def tag(value: str) -> str:
        return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8]

    deployment = redact_k8s_object(raw.deployment, text=text, tag=tag)
    replicasets = [redact_k8s_object(rs, text=text, tag=tag) for rs in raw.replicasets]
    pods = [redact_k8s_object(p, text=text, tag=tag) for p in raw.pods]
    events = [redact_k8s_object(ev, text=text, tag=tag) for ev in raw.events]
    old_pods = [redact_k8s_object(p, text=text, tag=tag) for p in raw.old_pods]
    revisions = [redact_k8s_object(cr, text=text, tag=tag) for cr in raw.controller_revisions]
    log_pieces = [first.redact_pieces(entry.text, found) for entry in raw.logs]
    git = raw.git.model_copy(update=_map_strings(raw.git.model_dump(), text)) if raw.git is not None else None

    # a secret found by its context is masked everywhere else too, when it is shaped like one (a value
    # such as `expired` under `token:` must not mask every "expired" of the logs)
    promoted = {f.strip() for f in found if "\n" not in f and env_value_is_secret("", f)}
    literals = Literals(spec_values, raw_only=promoted)
    if literals:
        second = literals.mask

        def again(value: str) -> str:
            return second(value, MASK)

        deployment, replicasets, pods, events, old_pods, revisions = (
            _map_strings(x, again) for x in (deployment, replicasets, pods, events, old_pods, revisions))
        for pieces in log_pieces:
            for i, piece in enumerate(pieces):
                pieces[i] = again(piece)  # in place: each pass-1 piece is freed as it is replaced
    logs = [entry.model_copy(update={"text": pieces[0] if len(pieces) == 1 else "".join(pieces)})
            for entry, pieces in zip(raw.logs, log_pieces, strict=True)]
    del log_pieces
    bundle = raw.model_copy(update={"deployment": deployment, "replicasets": replicasets, "pods": pods,
                                    "events": events, "logs": logs, "git": git, "old_pods": old_pods,
                                    "controller_revisions": revisions})
    return RedactedBundle(bundle, literals, len(found), _key=_BUILD)
