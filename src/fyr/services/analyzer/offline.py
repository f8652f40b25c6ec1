"""`fyr analyze --bundle FILE` and `fyr collect NS/NAME | NS/KIND/NAME`: the analyzer without a database.

`run_analyze` reads a bundle, runs the offline pipeline and prints the §7 JSON (or a text version
for a person); a bad bundle is exit code 2 with one line naming the problem. `run_collect` writes a
bundle from a live cluster (kubeconfig from the settings or the usual places) to a file or stdout,
redacted like everything else that leaves the process (`--raw`, with a warning, for the rare need).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import structlog

from fyr.core.redaction import SecretLeak
from fyr.core.status import StatusThresholds
from fyr.errors import BadBundle, FyrError
from fyr.models.analysis import AnalysisResult
from fyr.models.bundle import RolloutBundle, dump_bundle, load_bundle
from fyr.services.analyzer.guard import UrlPolicy
from fyr.services.analyzer.pipeline import PipelineResult, analyze_bundle, render_output, render_text
from fyr.services.analyzer.redaction import redact_bundle
from fyr.settings import Settings

log = structlog.get_logger()

Explain = Callable[[PipelineResult], Awaitable[AnalysisResult]]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


async def run_analyze(
    bundle_path: Path,
    *,
    fmt: Literal["json", "text"],
    settings: Settings,
    explain: Explain | None = None,
) -> tuple[int, str]:
    """(exit code, text). Exit 0 with the output, 2 with a one-line error for stderr, 1 when the last
    secret check refuses what would be printed."""
    started = time.perf_counter()
    try:
        bundle = load_bundle(bundle_path)
    except BadBundle as exc:
        return EXIT_BAD_INPUT, f"bad bundle: {exc}"
    result = analyze_bundle(bundle, context_tokens=settings.context_tokens,
                            thresholds=StatusThresholds.from_settings(settings),
                            url_policy=UrlPolicy.build(gitlab_hosts=settings.gitlab_hosts))
    if explain is not None:
        result.check(result.reduced_context, where="llm_request")
    analysis = result.rules if explain is None else await explain(result)
    try:
        output = render_output(result, analysis, duration_s=time.perf_counter() - started)
    except SecretLeak as exc:
        if analysis is result.rules:
            return EXIT_FAILED, f"nothing printed: {exc}"
        # fail closed: a model's answer holding a secret is replaced by the rules' analysis
        log.warning("llm_answer_withheld", reason=str(exc))
        try:
            output = render_output(result, result.rules, duration_s=time.perf_counter() - started)
        except SecretLeak as again:
            return EXIT_FAILED, f"nothing printed: {again}"
    if fmt == "text":
        return EXIT_OK, render_text(output).rstrip("\n")
    return EXIT_OK, json.dumps(output, ensure_ascii=False, indent=2)


KINDS = {"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
         "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
         "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet"}


def parse_target(target: str) -> tuple[str, str, str]:
    """`NAMESPACE/NAME` (a Deployment) or `NAMESPACE/KIND/NAME` -> (namespace, kind, name); KIND is
    deployment, statefulset or daemonset (kubectl's short names too). ValueError on anything else."""
    parts = target.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"target must be NAMESPACE/NAME or NAMESPACE/KIND/NAME, not {target!r}")
    if len(parts) == 2:
        return parts[0], "Deployment", parts[1]
    kind = KINDS.get(parts[1].lower())
    if kind is None:
        raise ValueError(f"kind must be deployment, statefulset or daemonset, not {parts[1]!r}")
    return parts[0], kind, parts[2]


async def collect_target(
    target: str, *, settings: Settings, progress: Callable[[str], None] | None = None
) -> RolloutBundle:
    """Collect one workload's bundle with a client built from the settings' kubeconfig."""
    from fyr.core.kubeclient import make_api_client
    from fyr.services.analyzer.collect_sets import collect_workload

    namespace, kind, name = parse_target(target)
    api = await make_api_client(kubeconfig=settings.kubeconfig, context=settings.kube_context)
    try:
        return await collect_workload(
            api, kind=kind, namespace=namespace, name=name, cluster=settings.cluster_name,
            tail_lines=settings.collector_tail_lines, limit_bytes=settings.collector_limit_bytes,
            progress=progress)
    finally:
        await api.close()


RAW_WARNING = ("fyr: warning: --raw writes the bundle UNREDACTED: env values, tokens and passwords in logs "
               "are in it as the cluster gave them; do not attach it to a ticket or share it")


async def run_collect(target: str, *, out: Path | None, settings: Settings, progress: bool,
                      raw: bool = False) -> int:
    """Write the bundle to `out` (or stdout), redacted unless `raw`. Exit 0, 2 on a bad target, 1 when
    collection failed."""
    def say(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    try:
        parse_target(target)
    except ValueError as exc:
        print(f"fyr: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        bundle = await collect_target(target, settings=settings, progress=say)
    except FyrError as exc:
        print(f"fyr: collect {target} failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if raw:
        print(RAW_WARNING, file=sys.stderr, flush=True)
    else:
        bundle = redact_bundle(bundle).bundle  # a bundle is a copy that leaves the process: redacted
    if out is None:
        sys.stdout.write(json.dumps(bundle.to_json_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        dump_bundle(bundle, out)
        say(f"wrote {out} ({len(bundle.pods)} pods, {len(bundle.events)} events, {len(bundle.logs)} logs)")
    return EXIT_OK
