"""What changed between the previous and the new pod template.

Most failed rollouts are explained by the change that started them: a new image, a new command,
an env var that was added or dropped, tighter memory limits, a stricter probe. This module puts
that change side by side. Env vars appear by NAME only (values may be secrets, and a changed value
is reported as changed, never shown); everything else (command, args) is passed through the caller's redactor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")

# Masks secrets in a command/args list (`--db-password X` masks X), e.g. via redact_k8s_object.
Redactor = Callable[[list[Any]], list[Any]]


def _env_index(container: Mapping[str, Any]) -> dict[str, str]:
    """Env var name -> a fingerprint of where its value comes from (never the value itself)."""
    out: dict[str, str] = {}
    for env in container.get("env") or []:
        name = str(env.get("name", ""))
        if "valueFrom" in env:
            ref = env["valueFrom"]
            for kind in ("secretKeyRef", "configMapKeyRef"):
                if kind in ref:
                    out[name] = f"{kind}:{ref[kind].get('name')}/{ref[kind].get('key')}"
                    break
            else:
                out[name] = "valueFrom:" + ",".join(sorted(ref))
        else:
            digest = hashlib.sha256(str(env.get("value", "")).encode()).hexdigest()[:12]
            out[name] = "value:" + digest
    return out


def _env_from(container: Mapping[str, Any]) -> list[str]:
    refs = []
    for src in container.get("envFrom") or []:
        for kind in ("secretRef", "configMapRef"):
            if kind in src:
                refs.append(f"{kind}:{src[kind].get('name')}")
    return refs


def _env_source(fingerprint: str) -> str:
    return "value" if fingerprint.startswith("value:") else fingerprint


def _probe(probe: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not probe:
        return None
    out: dict[str, Any] = {}
    for handler in ("httpGet", "tcpSocket", "grpc"):
        if handler in probe:
            out[handler] = {k: v for k, v in probe[handler].items() if k != "httpHeaders"}
    if "exec" in probe:
        out["exec"] = probe["exec"].get("command")
    for key in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"):
        if key in probe:
            out[key] = probe[key]
    return out


def _summary(container: Mapping[str, Any], redact: Redactor) -> dict[str, Any]:
    out: dict[str, Any] = {"image": container.get("image")}
    for key in ("command", "args"):
        if container.get(key):
            out[key] = redact(list(container[key]))
    env_names = sorted(_env_index(container))
    if env_names:
        out["env_names"] = env_names
    if _env_from(container):
        out["env_from"] = _env_from(container)
    if container.get("resources"):
        out["resources"] = container["resources"]
    for p in _PROBES:
        if container.get(p):
            out[p] = _probe(container[p])
    return out


def _containers(template: Mapping[str, Any]) -> dict[str, tuple[Mapping[str, Any], bool]]:
    spec = template.get("spec") or {}
    out: dict[str, tuple[Mapping[str, Any], bool]] = {}
    for c in spec.get("initContainers") or []:
        out[str(c.get("name"))] = (c, True)
    for c in spec.get("containers") or []:
        out[str(c.get("name"))] = (c, False)
    return out


def _changed(old: Any, new: Any) -> dict[str, Any] | None:
    return None if old == new else {"old": old, "new": new}


def _container_diff(old: Mapping[str, Any], new: Mapping[str, Any], redact: Redactor) -> dict[str, Any]:
    diff: dict[str, Any] = {}
    if ch := _changed(old.get("image"), new.get("image")):
        diff["image"] = ch
    for key in ("command", "args"):
        o = redact(list(old.get(key) or []))
        n = redact(list(new.get(key) or []))
        if ch := _changed(o or None, n or None):
            diff[key] = ch
    oenv, nenv = _env_index(old), _env_index(new)
    added = sorted(set(nenv) - set(oenv))
    removed = sorted(set(oenv) - set(nenv))
    changed = sorted(k for k in set(oenv) & set(nenv) if oenv[k] != nenv[k])
    if added:
        diff["env_added"] = {k: _env_source(nenv[k]) for k in added}
    if removed:
        diff["env_removed"] = {k: _env_source(oenv[k]) for k in removed}
    if changed:
        diff["env_changed"] = {k: f"{_env_source(oenv[k])} -> {_env_source(nenv[k])}" for k in changed}
    if ch := _changed(_env_from(old), _env_from(new)):
        diff["env_from"] = ch
    if ch := _changed(old.get("resources") or None, new.get("resources") or None):
        diff["resources"] = ch
    for p in _PROBES:
        if ch := _changed(_probe(old.get(p)), _probe(new.get(p))):
            diff[p] = ch
    return diff


def _volumes(template: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for vol in (template.get("spec") or {}).get("volumes") or []:
        src = next((k for k in vol if k != "name"), "?")
        ref = vol.get(src)
        ref_name = ""
        if isinstance(ref, dict):
            ref_name = str(ref.get("name") or ref.get("secretName") or ref.get("claimName") or "")
        out[str(vol.get("name"))] = f"{src}:{ref_name}" if ref_name else src
    return out


def template_diff(
    new_template: Mapping[str, Any],
    old_template: Mapping[str, Any] | None,
    *,
    redact_args: Redactor,
    new_name: str | None = None,
    old_name: str | None = None,
) -> dict[str, Any]:
    """The change from `old_template` to `new_template`, or the new template's summary if no old one."""
    redact = redact_args
    new_c = _containers(new_template)
    if old_template is None:
        return {
            "new_replicaset": new_name,
            "previous_replicaset": None,
            "containers": {
                (name + " (init)" if init else name): _summary(c, redact) for name, (c, init) in new_c.items()
            },
        }
    old_c = _containers(old_template)
    containers: dict[str, Any] = {}
    for name, (c, init) in new_c.items():
        label = name + " (init)" if init else name
        if name not in old_c:
            containers[label] = {"added": _summary(c, redact)}
            continue
        d = _container_diff(old_c[name][0], c, redact)
        if d:
            containers[label] = d
    for name, (c, init) in old_c.items():
        if name not in new_c:
            containers[name + " (init)" if init else name] = {"removed": True, "image": c.get("image")}
    out: dict[str, Any] = {
        "new_replicaset": new_name, "previous_replicaset": old_name, "containers": containers,
    }
    if ch := _changed(_volumes(old_template), _volumes(new_template)):
        out["volumes"] = ch
    ospec, nspec = old_template.get("spec") or {}, new_template.get("spec") or {}
    for key in ("serviceAccountName", "nodeSelector", "tolerations", "affinity", "securityContext"):
        if ch := _changed(ospec.get(key), nspec.get(key)):
            out[key] = ch
    if not containers and len(out) == 3:
        out["note"] = "pod templates differ only in labels/annotations"
    return out
