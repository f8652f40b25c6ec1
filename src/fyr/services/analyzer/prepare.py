"""From a bundle to redacted, digested evidence: the step before rules and reduction.

Secrets are masked here, once, before anything is digested, classified or put into a context:
`redact_text` catches credentials with a recognisable shape, and on top of that the literal values
of sensitive env vars of the pod templates are masked wherever they show up in logs and events
(an app that prints its own password has no key=value around it). Which pods count: only those of
the new ReplicaSet; the rollout's failure is never explained by the old one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fyr.core.status import find_new_replicaset, pods_of_replicaset
from fyr.models.bundle import RolloutBundle
from fyr.services.analyzer.logs import digest_log
from fyr.services.analyzer.redaction import MASK, find_secrets, redact_text
from fyr.services.analyzer.rules import LogEvidence
from fyr.services.analyzer.signals import Signal, events_for, extract_signals

_SENSITIVE_NAME = re.compile(
    r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|DSN|PRIVATE|CERT|SALT|SIGNING|COOKIE|SESSION", re.I)
_HIGH_ENTROPY = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9+/=_.:@\-]{16,}$")
_MIN_MASKED_LEN = 6


def _templates(bundle: RolloutBundle) -> Iterable[Mapping[str, Any]]:
    yield bundle.deployment.get("spec", {}).get("template", {})
    for rs in bundle.replicasets:
        yield (rs.get("spec") or {}).get("template") or {}
    for pod in bundle.pods:
        yield {"spec": pod.get("spec") or {}}


def sensitive_env_values(bundle: RolloutBundle) -> list[str]:
    """Literal env values that must never be shown, longest first (so overlapping ones mask fully)."""
    values: set[str] = set()
    for tmpl in _templates(bundle):
        spec = tmpl.get("spec") or {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            for env in c.get("env") or []:
                value = env.get("value")
                if not isinstance(value, str) or len(value) < _MIN_MASKED_LEN:
                    continue
                name = str(env.get("name", ""))
                if _SENSITIVE_NAME.search(name) or _HIGH_ENTROPY.match(value):
                    values.add(value)
                # e.g. the password inside DATABASE_URL=postgres://app:pw@db/x, not the whole URL
                values.update(s for s in find_secrets(value) if len(s) >= _MIN_MASKED_LEN)
    return sorted(values, key=len, reverse=True)


class Scrubber:
    """redact_text plus masking of the bundle's sensitive env values."""

    def __init__(self, values: Sequence[str]) -> None:
        self._values = [v for v in values if v]
        self._pattern = re.compile("|".join(re.escape(v) for v in self._values)) if self._values else None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return redact_text(text)


@dataclass(frozen=True)
class RolloutObjects:
    """The objects that belong to the rollout under analysis."""

    new_rs: Mapping[str, Any] | None
    old_rs: Mapping[str, Any] | None
    pods: list[Mapping[str, Any]]
    events: list[Mapping[str, Any]]


def _revision(rs: Mapping[str, Any]) -> int:
    ann = (rs.get("metadata") or {}).get("annotations") or {}
    try:
        return int(ann.get("deployment.kubernetes.io/revision", "0"))
    except ValueError:
        return 0


def _claims(pods: Iterable[Mapping[str, Any]]) -> set[str]:
    """PersistentVolumeClaims the pods mount: their provisioning events say why a pod waits for them."""
    return {str(v["persistentVolumeClaim"].get("claimName")) for p in pods
            for v in (p.get("spec") or {}).get("volumes") or [] if isinstance(v.get("persistentVolumeClaim"), dict)}


def rollout_objects(bundle: RolloutBundle) -> RolloutObjects:
    new_rs = find_new_replicaset(bundle.deployment, bundle.replicasets)
    others = [rs for rs in bundle.replicasets if rs is not new_rs]
    old_rs = max(others, key=_revision) if others else None
    if new_rs is not None:
        pods = list(pods_of_replicaset(new_rs, bundle.pods))
    elif not bundle.replicasets:
        pods = list(bundle.pods)  # a hand-made bundle without ReplicaSets: its pods are all we have
    else:
        pods = []  # ReplicaSets, none of them new (not created yet): old pods never explain the rollout
    names = [bundle.name, *[str(p["metadata"]["name"]) for p in pods], *_claims(pods)]
    uids = [str((o.get("metadata") or {}).get("uid") or "") for o in [bundle.deployment, *pods]]
    if new_rs is not None:
        names.append(str(new_rs["metadata"]["name"]))
        uids.append(str(new_rs["metadata"].get("uid") or ""))
    return RolloutObjects(new_rs, old_rs, pods, events_for(bundle.events, names=names, uids=uids))


def rollout_signals(bundle: RolloutBundle, objs: RolloutObjects, scrub: Scrubber) -> list[Signal]:
    signals = extract_signals(
        deployment=bundle.deployment,
        replicasets=[objs.new_rs] if objs.new_rs is not None else [],
        pods=objs.pods,
        events=objs.events,
    )
    for sig in signals:
        sig.message = scrub(sig.message)
    return signals


def _init_containers(pods: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    out = set()
    for pod in pods:
        for c in (pod.get("spec") or {}).get("initContainers") or []:
            out.add((str(pod["metadata"]["name"]), str(c.get("name"))))
    return out


def prepare_logs(bundle: RolloutBundle, objs: RolloutObjects, scrub: Scrubber) -> list[LogEvidence]:
    """Digests of the new ReplicaSet's container logs, redacted before digesting."""
    pod_names = {str(p["metadata"]["name"]) for p in objs.pods}
    inits = _init_containers(objs.pods)
    pods_known = bool(bundle.pods)  # a bundle with logs but no pod objects: keep every log
    out = []
    for entry in bundle.logs:
        if pods_known and entry.pod not in pod_names:
            continue
        if not entry.text:
            continue
        source = f"{entry.pod}/{entry.container}" + (" (previous)" if entry.previous else "")
        digest = digest_log(scrub(entry.text), source=source)
        out.append(LogEvidence(entry.pod, entry.container, entry.previous,
                               (entry.pod, entry.container) in inits, digest))
    return out


def raw_log_bytes(bundle: RolloutBundle) -> int:
    return sum(len(entry.text.encode("utf-8")) for entry in bundle.logs)
