"""Deterministic classifier: structured signals + decisive log lines -> an `AnalysisResult`.

It works with no LLM at all (docs/architecture.md 'Analysis pipeline'): the category comes from the most specific signal
Kubernetes gave (a kubelet waiting reason beats a crash loop, a crash loop beats the progress
deadline that followed it), the evidence from the decisive log lines of the failing container, and
the explanation and fix from what those say. Everything it reads is already redacted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fyr.core.status import RolloutVerdict
from fyr.models.analysis import AnalysisResult, Category, Confidence
from fyr.models.rollout import RolloutStatus
from fyr.services.analyzer.logs import LogDigest
from fyr.services.analyzer.signals import Signal, normalise

PROMPT_VERSION = "rules-v1"
MAX_EVIDENCE = 6
_MAX_LINE = 600  # an evidence line; a chained runtime error of a few hundred characters stays whole
_RELATIVE_FLOOR = 0.5  # further log evidence must score at least half of the top line


@dataclass(frozen=True)
class LogEvidence:
    """One container log's digest and where it came from."""

    pod: str
    container: str
    previous: bool
    init: bool
    digest: LogDigest

    @property
    def where(self) -> str:
        return f"{self.pod}/{self.container}" + (" (previous)" if self.previous else "")


_IMAGE_WAITING = frozenset({
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "ImageInspectError",
    "RegistryUnavailable", "SignatureValidationFailed",
})
_CONFIG_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
                             "PreCreateHookError", "PreStartHookError", "PostStartHookError"})
# Signals with no category of their own; shown as evidence when the deadline is all we can name.
_CONTEXT_KINDS = ("sandbox", "evicted", "node", "hook", "start", "waiting", "terminated")
_UNNAMED_KINDS = frozenset({"sandbox", "evicted", "node"})
_UNNAMED_WHAT = {"sandbox": "The pod sandbox (its network) cannot be created",
                 "evicted": "Pods were evicted by the kubelet", "node": "The node under the pods went NotReady"}
_UNNAMED_FIX = {
    "sandbox": "The node's container network (CNI plugin) fails to set up the pod: check the CNI pods on that node "
               "(e.g. calico-node, its logs and credentials) and the node's network, then delete the stuck pods.",
    "evicted": "The node ran short of the named resource: set requests (and limits) for it on the containers, "
               "free or enlarge the node's disk/memory, then let the ReplicaSet recreate the pods.",
    "node": "Check the node (kubelet, container runtime, network, `kubectl describe node`); the pods are "
            "rescheduled once it is Ready again or removed.",
}
_EMPTY_PROBE = re.compile(r"probe failed:\s*$|probe errored:\s*$", re.IGNORECASE)
_PORT_IN_PROBE = re.compile(r"(?:dial tcp \S+?:|https?://[^/\s:\"]+:)(\d{2,5})\b")
_PORT_WORD = re.compile(r"\bport(?:\(s\)|s)?\W{0,4}(\d{2,5})\b", re.IGNORECASE)
_PORT_AFTER_LISTEN = re.compile(r"(?:listen\w*|running|serving|started|bound|http=|grpc=)\W.{0,80}?:(\d{2,5})\b",
                                re.IGNORECASE)
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?")
_CONFIG_TERMINATED = frozenset({"StartError", "ContainerCannotRun"})
_EXEC_PROBLEM = re.compile(r"exec format error|exec: \"[^\"]*\": .*no such file|executable file not found|"
                           r"permission denied.*exec|no such file or directory: unknown")
_KILLED_BY_SIGNAL = frozenset({137, 143})
_WRAPPER = re.compile(r"(?:exit status|exit code|exited with(?: code)?) -?\d+\W*$", re.IGNORECASE)
_PULL_CAUSE = re.compile(r"not found|manifest unknown|denied|unauthorized|forbidden|authorization failed|"
                         r"invalid reference|timeout|timed out|refused|no such host|no route to host|lookup \S+|"
                         r"server misbehaving|x509|tls:|toomanyrequests|rate limit|too many requests", re.IGNORECASE)
_DNS = re.compile(r"no such host|server misbehaving|lookup (\S+?)(?: on \S+)?: ", re.IGNORECASE)
_NETWORK = re.compile(r"no route to host|timed out|timeout|connection refused|network is unreachable", re.IGNORECASE)
# The layers that restate the image reference: "Back-off pulling image "X": ErrImagePull: failed to pull and
# unpack image "X": failed to resolve reference "X": …" names X three times before the cause.
_PULL_WRAPPERS = re.compile(r'(?:(?:Back-off pulling|[Ff]ailed to pull(?: and unpack)?) image|failed to resolve '
                            r'reference) "[^"]+": |(?:ErrImagePull|ImagePullBackOff): |rpc error: code = \w+ desc = ')
_IMAGE_IN_MSG = re.compile(r'(?:pulling|pull) image "([^"]+)"')
# containerd/runc wrap the interesting part ("exec: ...: no such file") in several layers
_RUNTIME_PREFIX = re.compile(r"^(?:Error: )?failed to create containerd task: .*?unable to start container process: ")


_HEAD = 0.4  # a clipped line keeps its start (where, reason) and its end (the innermost cause)
_RPC_WRAPPER = re.compile(r"rpc error: code = \w+ desc = ")
_INNER_MIN = 60


def _clip(text: str, limit: int = _MAX_LINE) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = int(limit * _HEAD)
    return text[:head] + " … " + text[-(limit - head - 3):]


def innermost(text: str, *, min_chars: int = _INNER_MIN) -> str:
    """The tail of a chained error ("a: b: c: cause") that says why, with repeated links dropped.

    Runtimes wrap the cause in layers ("failed to pull and unpack image …: failed to resolve reference
    …: failed to do request: Head …: dial tcp: lookup registry on 10.0.0.2:53: no such host"); the
    links are read from the end until the tail is long enough to stand alone."""
    text = _RPC_WRAPPER.sub("", " ".join(text.split()))
    links: list[str] = []
    for link in text.split(": "):
        if not links or link != links[-1]:
            links.append(link)
    tail: list[str] = []
    for link in reversed(links):
        tail.insert(0, link)
        if len(": ".join(tail)) >= min_chars:
            break
    return ": ".join(tail)


def _pods_note(sig: Signal) -> str:
    n = len(sig.pods)
    return f" [{n} pods]" if n > 1 else ""


def _where(sig: Signal) -> str:
    pod = sig.pods[0] if sig.pods else "?"
    if sig.container:
        return f"{pod}/{sig.container}" + (" (init)" if sig.init else "")
    return pod


def signal_line(sig: Signal) -> str:
    """One evidence line for a signal: where, reason, exit code, restarts, message."""
    if sig.kind in ("waiting", "terminated"):
        parts = [sig.reason]
        if sig.exit_code is not None:
            parts.append(f"(exit code {sig.exit_code})")
        if sig.restarts:
            parts.append(f"restarts {sig.restarts}")
        text = f"{_where(sig)}: " + " ".join(parts)
        if sig.message and sig.reason != "CrashLoopBackOff":
            text += f": {sig.message}"
        return _clip(text + _pods_note(sig))
    if sig.kind in ("deadline",) or not sig.pods:
        return _clip(f"{sig.reason}: {sig.message}" + (f" (x{sig.count})" if sig.count > 1 else ""))
    count = f" (x{sig.count})" if sig.count > 1 else ""
    return _clip(f"{_where(sig)}: {sig.reason}{count}: {sig.message}{_pods_note(sig)}")


def _first(signals: Sequence[Signal], pred: Any) -> Signal | None:
    return next((s for s in signals if pred(s)), None)


def _log_lines(logs: Sequence[LogEvidence], container: str | None, *, limit: int) -> list[str]:
    """Top decisive lines of the container's logs (previous instance first), one per distinct line."""
    chosen = [le for le in logs if container is None or le.container == container]
    ranked: list[tuple[float, int, str, str]] = []
    for idx, le in enumerate(chosen):
        for block in le.digest.decisive:
            bonus = 0.5 if le.previous else 0.0
            ranked.append((block.score + bonus, -idx, le.where, block.line))
    ranked.sort(key=lambda t: (-t[0], -t[1]))
    out: list[str] = []
    seen: set[str] = set()
    floor = ranked[0][0] * _RELATIVE_FLOOR if ranked else 0.0
    for score, _, where, line in ranked:
        if out and score < floor:
            break  # a harmless ERROR line far below the top one is noise, not evidence
        norm = normalise(line)
        if norm in seen:
            continue
        seen.add(norm)
        out.append(_clip(f"{where}: {line}"))
        if len(out) >= limit:
            break
    return out


def _listen_line(logs: Sequence[LogEvidence], container: str | None) -> str | None:
    """The newest 'listening on port N' line of the container's logs, as an evidence line."""
    found = [(le, b) for le in logs if container is None or le.container == container
             for b in le.digest.decisive if b.kind == "listen"]
    if not found:
        return None
    le, block = max(found, key=lambda t: (not t[0].previous, t[1].last_line_no))
    return _clip(f"{le.where}: {block.line}")


def _line_text(evidence_line: str) -> str:
    return evidence_line.split(": ", 1)[1] if ": " in evidence_line else evidence_line


@dataclass
class _Finding:
    category: Category
    signal: Signal | None
    confidence: Confidence


def _crash(signals: Sequence[Signal], logs: Sequence[LogEvidence], focus: str | None) -> Signal | None:
    """The crash to explain: a container that keeps exiting (one past restart of a container that
    runs now is transient, docs/kubernetes-signals.md 'What Fyr decides'), preferring the one whose logs say most
    clearly why, then
    the verdict's decisive container."""
    looping = {s.container for s in signals if s.kind == "waiting" and s.reason == "CrashLoopBackOff"}

    def repeated(s: Signal) -> bool:
        return s.current or s.restarts >= 2 or s.container in looping

    crashes = [s for s in signals if s.kind == "terminated" and s.reason not in ("Completed", "OOMKilled")
               and repeated(s)]
    clean_exits = [s for s in signals if s.kind == "terminated" and s.reason == "Completed" and repeated(s)]
    backoffs = [s for s in signals if s.kind == "waiting" and s.reason == "CrashLoopBackOff"]
    candidates = crashes or clean_exits or backoffs
    if not candidates:
        return None
    best: dict[str | None, float] = {}
    for le in logs:
        for block in le.digest.decisive:
            best[le.container] = max(best.get(le.container, 0.0), block.score)
    return min(candidates, key=lambda s: (-best.get(s.container, 0.0), s.container != focus, -len(s.pods)))


def _choose(signals: Sequence[Signal], logs: Sequence[LogEvidence], focus: str | None = None) -> _Finding:
    def waiting_in(reasons: frozenset[str]) -> Signal | None:
        return _first(signals, lambda s: s.kind == "waiting" and s.reason in reasons)

    if sig := waiting_in(_CONFIG_WAITING):
        if not sig.message:
            # `kubectl describe` shows the reason only in the kubelet's `Error: …` event
            start = _first(signals, lambda s: s.kind == "start" and s.container in (None, sig.container))
            if start is not None:
                sig.message = start.message.removeprefix("Error: ")
        return _Finding(Category.CONFIG_ERROR, sig, "high")
    if sig := _first(signals, lambda s: s.kind == "terminated" and s.reason in _CONFIG_TERMINATED):
        return _Finding(Category.CONFIG_ERROR, sig, "high")
    if sig := _first(signals, lambda s: s.kind == "start" and "not found" in s.message):
        return _Finding(Category.CONFIG_ERROR, sig, "high")
    if sig := waiting_in(_IMAGE_WAITING) or _first(signals, lambda s: s.kind == "pull" and s.reason == "Failed") \
            or _first(signals, lambda s: s.kind == "pull"):
        return _Finding(Category.IMAGE_PULL, sig, "high")
    if sig := _first(signals, lambda s: s.kind == "terminated" and s.reason == "OOMKilled"):
        return _Finding(Category.OOM_KILLED, sig, "high")
    crash = _crash(signals, logs, focus)
    if crash is not None:
        kill = _first(signals, lambda s: s.kind == "probe_kill"
                      and (s.container is None or s.container == crash.container))
        # 137/143: killed; 0: the application shut down cleanly on the kubelet's SIGTERM
        if kill is not None and (crash.exit_code is None or crash.exit_code in _KILLED_BY_SIGNAL
                                 or crash.exit_code == 0):
            return _Finding(Category.PROBE_FAILURE, kill, "high")
        lines = _log_lines(logs, crash.container, limit=1)
        if any(_EXEC_PROBLEM.search(line) for line in lines) or _EXEC_PROBLEM.search(crash.message):
            return _Finding(Category.CONFIG_ERROR, crash, "high")
        return _Finding(Category.CRASH_LOOP, crash, "high" if lines else "medium")
    pressure = _first(signals, lambda s: s.kind == "scheduling" and "pressure" in s.message)
    if pressure is not None and (sig := _first(signals, lambda s: s.kind in ("evicted", "node"))):
        return _Finding(Category.UNKNOWN, sig, "medium")  # the replacements wait for the node the eviction left
    for kind, category in (("create", Category.CREATE_FAILED), ("scheduling", Category.SCHEDULING),
                           ("mount", Category.MOUNT_FAILURE), ("probe_kill", Category.PROBE_FAILURE)):
        if sig := _first(signals, lambda s, k=kind: s.kind == k):
            return _Finding(category, sig, "high")
    # Running containers failing readiness: a sandbox event seen once on their way up was transient.
    if sig := _first(signals, lambda s: s.kind == "probe"):
        return _Finding(Category.PROBE_FAILURE, sig, "medium")
    # A specific signal no category names (sandbox/CNI, eviction, node NotReady) is `unknown` naming
    # it; the progress deadline is only for rollouts with no more specific signal.
    if sig := _first(signals, lambda s: s.kind in _UNNAMED_KINDS):
        return _Finding(Category.UNKNOWN, sig, "medium")
    if sig := _first(signals, lambda s: s.kind == "deadline"):
        return _Finding(Category.PROGRESS_DEADLINE, sig, "medium")
    return _Finding(Category.UNKNOWN, None, "low")


_SECRET_REF = re.compile(r"(secret|configmap)s? \"?([a-z0-9.-]+)\"? not found|couldn't find key (\S+) in "
                         r"(Secret|ConfigMap) (\S+)", re.IGNORECASE)


def _config_fix(message: str) -> str:
    m = _SECRET_REF.search(message)
    if m and m.group(2):
        kind = "Secret" if m.group(1).lower() == "secret" else "ConfigMap"
        return (f"Create the {kind} `{m.group(2)}` in the namespace (or fix the name referenced in the pod "
                "template), then the pods start without a new rollout.")
    if m and m.group(3):
        return (f"Add the key `{m.group(3)}` to {m.group(4)} `{m.group(5)}` or fix the key referenced in the "
                "pod template.")
    if "runAsNonRoot" in message:
        return ("The pod's securityContext requires a non-root user but the image runs as root: set `runAsUser` "
                "to a non-zero UID in the securityContext, or build the image with a numeric non-root `USER`.")
    if "exec format error" in message:
        return ("The image was built for another CPU architecture than the node's: build a multi-arch image "
                "(or one for the node's architecture) and redeploy.")
    if _EXEC_PROBLEM.search(message):
        return "Fix `command`/`args` in the pod template (or the image's entrypoint) to name a binary that exists."
    return "Fix the container configuration named in the error, or roll back with `kubectl rollout undo`."


def _image_fix(message: str, image: str | None) -> str:
    low = message.lower()
    img = f"`{image}`" if image else "the image"
    if "not found" in low or "manifest unknown" in low:
        return f"The tag of {img} does not exist: push it (check the CI build) or deploy a tag that exists."
    if "denied" in low or "unauthorized" in low or "forbidden" in low or "authorization failed" in low:
        return (f"The node may not pull {img}: add or fix `imagePullSecrets` for the registry, or check the "
                "repository name.")
    if "invalid reference format" in low or "couldn't parse image name" in low:
        return f"{img} is not a valid image reference (lowercase, no spaces): fix it in the pod template."
    if "toomanyrequests" in low or "rate limit" in low or "too many requests" in low:
        return (f"The registry rate-limits the nodes' pulls of {img} (Docker Hub counts anonymous pulls per IP): "
                "pull with credentials (`imagePullSecrets`), or mirror the image to your own registry.")
    if "x509" in low or "certificate" in low:
        return (f"The nodes do not trust the registry's TLS certificate for {img}: install the registry's CA on "
                "the nodes' container runtime (e.g. /etc/containerd/certs.d/<registry>/ca.crt), or fix the "
                "registry's certificate.")
    if dns := _DNS.search(message):
        host = f"`{dns.group(1)}`" if dns.group(1) else "the registry host"
        return (f"The nodes cannot resolve {host}: check the registry name in {img} and the nodes' DNS "
                "resolver (or an air-gapped cluster needs a registry mirror).")
    if _NETWORK.search(message):
        return (f"The nodes cannot reach the registry of {img}: check the network path from the nodes (firewall, "
                "proxy, NAT) or use a reachable mirror, then the pods pull again by themselves.")
    return f"Check that {img} exists and that the registry is reachable from the nodes."


def _crash_fix(line: str) -> str:
    low = line.lower()
    if "keyerror" in low or "is required" in low or "not set" in low or "missing" in low:
        return ("The application is missing required configuration: add it (env var, ConfigMap or Secret) to "
                "the pod template, or roll back with `kubectl rollout undo`.")
    if "name or service not known" in low or "no such host" in low or "could not translate host" in low:
        return ("A hostname in the configuration does not resolve: check the Service name and namespace the new "
                "version connects to (DNS inside the cluster), or roll back.")
    if "permission denied" in low or "eacces" in low or "operation not permitted" in low:
        return ("The process lacks a permission it needs (a file or directory it writes, or a port below 1024 "
                "as non-root): fix the securityContext, volume permissions or the port, or roll back.")
    if "connection refused" in low or "unreachable" in low or "authentication failed" in low or "timeout" in low:
        return ("A dependency is unreachable or rejects the credentials: check the service address and the "
                "credentials the new version uses, or roll back.")
    if "cannot find module" in low or "modulenotfound" in low or "no module named" in low:
        return "A dependency is missing from the image: fix the build (lockfile, copy step) and redeploy."
    return ("Fix the error the container prints on startup (evidence above) and redeploy, or roll back with "
            "`kubectl rollout undo`.")


def classify(
    *,
    verdict: RolloutVerdict,
    signals: Sequence[Signal],
    logs: Sequence[LogEvidence],
    target: str,
    limits: dict[str, str] | None = None,
    probes: dict[str, dict[str, Any]] | None = None,
) -> AnalysisResult:
    """The rules' analysis of one rollout. `target` is `namespace/deployment`; `limits` maps a
    container name to its memory limit (for OOM explanations); `probes` a container name to its
    declared ports and its probes' ports (for probe explanations)."""
    if verdict.status == RolloutStatus.SUCCESS:
        return AnalysisResult(
            category=Category.UNKNOWN, summary=f"{target} rolled out successfully; nothing to explain",
            root_cause="The rollout completed: every new replica is available.", evidence=[],
            suggested_fix="None needed.", confidence="low", model_name="rules", prompt_version=PROMPT_VERSION)
    finding = _choose(signals, logs, verdict.decisive_container)
    sig = finding.signal
    if sig is not None and verdict.decisive_pod in sig.pods[1:]:  # name the pod the verdict names
        sig.pods.remove(verdict.decisive_pod)
        sig.pods.insert(0, verdict.decisive_pod)
    container = sig.container if sig and sig.container else verdict.decisive_container
    evidence: list[str] = []
    if sig is not None:
        evidence.append(signal_line(sig))
    log_lines = _log_lines(logs, container, limit=3) if finding.category in (
        Category.CRASH_LOOP, Category.CONFIG_ERROR, Category.OOM_KILLED, Category.PROBE_FAILURE) else []
    log_lines.sort(key=lambda line: bool(_WRAPPER.search(_line_text(line))))  # stable: wrappers last
    listen = _listen_line(logs, container) if finding.category is Category.PROBE_FAILURE else None
    if listen is not None and not any(_line_text(listen) == _line_text(line) for line in log_lines):
        # where the application listens is what a failing probe is compared with, even beside error lines
        log_lines = [*log_lines[:2], listen]
    texts = [_line_text(line) for line in log_lines]
    # "migration failed: exit status 1" only says that it failed; a line that says why reads better
    telling = [t for t in texts if not _WRAPPER.search(t)]
    top = (telling or texts)[0] if texts else (sig.message if sig else "")
    evidence.extend(log_lines)
    kind = "init container" if sig is not None and sig.init else "container"
    where = f"{kind} {container} of {target}" if container else target
    cat = finding.category
    if cat is Category.IMAGE_PULL and sig is not None and sig.kind != "pull":
        # kubelets before 1.32 say only `Back-off pulling image "X"`; the cause is in the Failed event,
        # and when that aged out, the back-off event still names the image
        def same(s: Signal) -> bool:
            return s.kind == "pull" and s.container in (None, sig.container)
        pull = _first(signals, lambda s: same(s) and s.reason == "Failed") or _first(signals, same)
        if pull is not None:
            evidence.append(signal_line(pull))
            if (_PULL_CAUSE.search(pull.message) and not _PULL_CAUSE.search(sig.message)) or not sig.message:
                top = pull.message
    if cat is Category.SCHEDULING:
        volume = _first(signals, lambda s: s.kind == "volume")
        if volume is not None:  # the PVC's own event says why it stays unbound
            evidence.append(signal_line(volume))
            top = volume.message
    if cat is Category.MOUNT_FAILURE and sig is not None:
        evidence.extend(signal_line(s) for s in signals if s.kind == "mount" and s is not sig)
    if cat is Category.UNKNOWN and sig is not None:
        evidence.extend(signal_line(s) for s in signals if s.kind == "deadline")
    probe_detail = ""
    if cat is Category.PROBE_FAILURE and sig is not None:
        extra = _first(signals, lambda s: s.kind == "probe" and (s.container in (None, sig.container)))
        if extra is not None and extra is not sig:
            evidence.insert(1, signal_line(extra))
            probe_detail = extra.message
    spec_ports = (probes or {}).get(container or "", {})
    summary, cause, fix = _explain(cat, sig, top, where, target, verdict, limits or {}, container, probe_detail,
                                   spec_ports, _line_text(listen) if listen else "")
    if cat is Category.PROGRESS_DEADLINE or (cat is Category.UNKNOWN and sig is None):
        evidence.extend([signal_line(s) for s in signals if s.kind in _CONTEXT_KINDS][:3])
    if not evidence and verdict.status == RolloutStatus.FAILED:
        evidence.append(_clip(f"{verdict.reason}: {verdict.message}"))
    return AnalysisResult(
        category=cat, summary=_clip(summary, 300), root_cause=cause[:3000], evidence=evidence[:MAX_EVIDENCE],
        suggested_fix=fix[:3000], confidence=finding.confidence, model_name="rules",
        prompt_version=PROMPT_VERSION)


def _port_mismatch(probe_msg: str, log_line: str) -> tuple[str, str] | None:
    """(probe port, application port) when the probe dials one port and the log says another."""
    probe = _PORT_IN_PROBE.search(probe_msg)
    if not probe or not log_line or not re.search(r"listen|port|serv|bound|start", log_line, re.IGNORECASE):
        return None
    text = _CLOCK.sub(" ", log_line)
    said = _PORT_WORD.findall(text) or _PORT_AFTER_LISTEN.findall(text)
    if not said or probe.group(1) in said:
        return None
    return probe.group(1), said[0]


def _explain(
    cat: Category, sig: Signal | None, top: str, where: str, target: str, verdict: RolloutVerdict,
    limits: dict[str, str], container: str | None, probe_detail: str = "",
    spec_ports: dict[str, Any] | None = None, listen_text: str = "",
) -> tuple[str, str, str]:
    msg = sig.message if sig else ""
    pods = f" on {len(sig.pods)} pod(s)" if sig and sig.pods else ""
    if cat is Category.IMAGE_PULL:
        detail = (top if top and not _PULL_CAUSE.search(msg) else msg) or top
        found = _IMAGE_IN_MSG.search(detail) or _IMAGE_IN_MSG.search(msg)
        image = found.group(1) if found else verdict.image
        reason = sig.reason if sig and sig.kind != "pull" else "ErrImagePull"
        img = f" `{image}`" if image else ""
        if _PULL_CAUSE.search(detail):
            return (f"Image pull fails for {where}: {reason}: {innermost(detail)}",
                    f"The kubelet cannot pull the image{img}{pods}: {_PULL_WRAPPERS.sub('', detail)}",
                    _image_fix(detail, image))
        return (f"Image pull fails for {where}: {reason} for image{img}",
                f"The kubelet keeps backing off pulling the image{img}{pods}: {detail or reason}. The events "
                "that said why the pull failed have aged out; `kubectl describe pod` on a new pod shows the "
                "registry's answer.", _image_fix(detail, image))
    if cat is Category.CONFIG_ERROR:
        text = msg if (sig and sig.kind != "terminated") or not top else top
        if sig and sig.reason in _CONFIG_TERMINATED:
            text = msg or top
        short = _RUNTIME_PREFIX.sub("", text)
        return (f"{where} cannot start: {short}",
                f"The container could not be created or started{pods}: {text}",
                _config_fix(text))
    if cat is Category.OOM_KILLED:
        limit = limits.get(container or "")
        lim = f" (memory limit {limit})" if limit else ""
        return (f"{where} is OOMKilled{lim}",
                f"The container exceeds its memory limit{lim} and is killed by the kernel (exit code 137)"
                f"{pods}, restarting {sig.restarts if sig else 0} times." + (f" Last log: {top}" if top else ""),
                "Raise the memory limit (and request) to what the new version needs, or fix the memory growth; "
                "compare with the previous ReplicaSet's limits in the change.")
    if cat is Category.PROBE_FAILURE:
        kind = "readiness"
        if sig and sig.kind == "probe_kill":
            kind = "startup" if "startup probe" in msg else "liveness"
        probe_msg = msg
        if sig and sig.kind == "probe_kill" and probe_detail:
            probe_msg = f"{msg}; {probe_detail}"
        log_note = f" Log: {top}" if top and top not in (msg, probe_detail) else ""
        fix = ("Make the probe match the new version (path, port, initialDelaySeconds, or a startupProbe for "
               "slow starts), or fix the health endpoint.")
        declared = [int(p) for p in (spec_ports or {}).get("declared") or [] if str(p).isdigit()]
        spec_port = (spec_ports or {}).get(kind)
        # what the application logs about where it listens beats the informational containerPort
        if mismatch := _port_mismatch(probe_msg, listen_text) or _port_mismatch(probe_msg, top):
            probe_port, app_port = mismatch
            log_note += (f" The probe connects to port {probe_port} but the application says it listens on port "
                         f"{app_port}.")
            fix = (f"Point the probe (and containerPort/Service targetPort) at port {app_port}, or make the "
                   f"application listen on port {probe_port}.")
        elif isinstance(spec_port, int) and declared and spec_port not in declared:
            ports = ", ".join(str(p) for p in declared)
            log_note += (f" The {kind} probe connects to port {spec_port}, which the container does not declare "
                         f"(containerPort {ports}).")
            fix = (f"Point the {kind} probe at the port the application serves ({ports}), or make the application "
                   f"listen on port {spec_port}.")
        command = (spec_ports or {}).get(f"{kind}_exec")
        if command and _EMPTY_PROBE.search(probe_detail or msg):
            log_note += (f" The {kind} probe runs `{command}`, which exits non-zero without printing why.")
            fix = (f"Fix the {kind} probe's command `{command}` (it must exit 0 when the application is "
                   "healthy), or the health condition it checks.")
        said = probe_detail or msg
        if _EMPTY_PROBE.search(said):  # an exec probe that failed silently: name its command instead
            said = f"`{command}` exits non-zero" if command else ""
        return (f"{where} fails its {kind} probe" + (f": {innermost(said, min_chars=120)}" if said else ""),
                f"The kubelet's {kind} probe fails{pods}: {probe_msg}{log_note}", fix)
    if cat is Category.CRASH_LOOP and sig is not None and sig.exit_code == 0:
        return (f"{where} exits with code 0 and is restarted over and over",
                f"The container's main process ends successfully right after starting{pods}; with "
                "restartPolicy Always the kubelet restarts it with back-off." + (f" Last log: {top}" if top else ""),
                "Run a long-lived process as the container's command (not a one-shot script or a command that "
                "forks into the background), or use a Job for one-shot work.")
    if cat is Category.CRASH_LOOP:
        code = f" (exit code {sig.exit_code})" if sig and sig.exit_code is not None else ""
        return (f"{where} crashes on start{code}: {top}" if top else f"{where} is crash looping{code}",
                f"The container exits{code} right after starting and the kubelet restarts it with back-off"
                f"{pods}." + (f" Decisive log line: {top}" if top else " Its logs show no decisive line."),
                _crash_fix(top))
    if cat is Category.SCHEDULING:
        if top and top != msg and "storageclass" in top.lower():
            return (f"Pods of {target} cannot be scheduled: {top}",
                    f"The scheduler finds no node{pods}: {msg}. The PersistentVolumeClaim stays unbound: {top}",
                    "Create the StorageClass the PersistentVolumeClaim names, or set storageClassName to one "
                    "that exists (`kubectl get storageclass`).")
        extra = f". The PersistentVolumeClaim: {top}" if top and top != msg else ""
        return (f"Pods of {target} cannot be scheduled: {innermost(msg, min_chars=120)}",
                f"The scheduler finds no node{pods}: {msg}{extra}",
                "Lower the pod's requests, add node capacity, or fix nodeSelector/affinity/tolerations.")
    if cat is Category.CREATE_FAILED:
        low = msg.lower()
        fix = ("Raise the namespace ResourceQuota or lower the pod's requests/limits." if "quota" in low else
               "Make the pod template satisfy the namespace's Pod Security level (securityContext)."
               if "podsecurity" in low else
               "Change the pod template so that the admission policy accepts it, or fix the policy.")
        if sig is not None and sig.reason == "ReplicaSetCreateError":
            return (f"The new ReplicaSet of {target} cannot be created",
                    f"The API server refuses to create the new ReplicaSet: {msg}", fix)
        return (f"Pods of {target} are refused at creation", f"The API server refuses to create pods: {msg}", fix)
    if cat is Category.MOUNT_FAILURE:
        fix = ("Create the referenced ConfigMap/Secret/PVC (or fix its name), or free the volume attached "
               "elsewhere (ReadWriteOnce with a RollingUpdate needs Recreate or a ReadWriteMany volume).")
        if _SECRET_REF.search(msg):
            fix = _config_fix(msg)
        return (f"A volume of {target} cannot be mounted: {innermost(msg, min_chars=100)}",
                f"The kubelet cannot mount a volume{pods}: {msg}", fix)
    if cat is Category.PROGRESS_DEADLINE:
        return (f"{target} exceeded its progress deadline", f"{msg} No pod showed a more specific signal.",
                "Look at why new pods do not become ready (describe one), or raise progressDeadlineSeconds "
                "for a slow start.")
    if sig is not None and sig.kind in _UNNAMED_KINDS:
        return (f"{_UNNAMED_WHAT[sig.kind]} ({target}): {sig.reason}: {innermost(msg, min_chars=120)}",
                f"{_UNNAMED_WHAT[sig.kind]}{pods}: {sig.reason}: {msg} No category of Fyr names this cause; the "
                "rollout cannot progress until it is resolved.", _UNNAMED_FIX[sig.kind])
    return (f"No failure signal found for {target}",
            f"Rollout status {verdict.status.value} ({verdict.reason}); no pod, event or log signal explains it.",
            "Nothing to fix from the evidence collected; re-collect the bundle if the rollout fails later.")
