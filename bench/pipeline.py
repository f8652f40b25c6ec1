"""Offline analyzer pipeline speed: the corpus, and a worst-case bundle at the collector's limits.

The worst case is what the collector can hand over for one rollout: P pods x (current + previous)
logs of `FYR_COLLECTOR_LIMIT_BYTES` (2 MiB) each, mostly distinct noise lines with the decisive
line buried near the end. Prints per-stage seconds (redaction dominates), MB/s and the context size.

    .venv/bin/python bench/pipeline.py [--pods 3] [--mib 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fyr.models.bundle import load_bundle, parse_bundle  # noqa: E402 - after the sys.path line
from fyr.services.analyzer import prepare as prep  # noqa: E402
from fyr.services.analyzer.logs import digest_log  # noqa: E402
from fyr.services.analyzer.pipeline import analyze_bundle  # noqa: E402
from fyr.services.analyzer.redaction import redact_bundle  # noqa: E402
from tests.corpus.builders import Rollout, container, crashloop, template  # noqa: E402


def noise_log(size: int, seed: int) -> str:
    rnd = random.Random(seed)
    out: list[str] = []
    total = 0
    i = 0
    while total < size:
        line = (f"2026-11-27T09:58:{i % 60:02d}.{i % 1000:03d}Z INFO request method=GET path=/api/items/"
                f"{rnd.randint(1, 99999)} status=200 duration={rnd.randint(1, 900)}ms "
                f"request_id={rnd.getrandbits(64):016x} user=u{rnd.randint(1, 5000)}")
        out.append(line)
        total += len(line) + 1
        i += 1
    out.insert(len(out) - 40, "2026-11-27T09:59:59.000Z CRITICAL cannot load price table: "
               "s3://acme-prices/2026-11.json: AccessDenied")
    return "\n".join(out) + "\n"


def worst_case(pods: int, mib: float) -> dict[str, object]:
    r = Rollout("api", "shop", template("api", [container("app", "acme/api:2.0")]),
                template("api", [container("app", "acme/api:1.0")]))
    size = int(mib * 1024 * 1024)
    for i in range(pods):
        pod = r.pod(i, statuses=[crashloop("app", "acme/api:2.0", restarts=5)])
        r.log(pod, "app", noise_log(size, i), previous=True)
        r.log(pod, "app", noise_log(size, 100 + i), previous=False)
    return r.bundle()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=3)
    ap.add_argument("--mib", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    corpus = sorted((REPO / "tests" / "corpus").glob("*.json"))
    bundles = [load_bundle(p) for p in corpus]
    analyze_bundle(bundles[0])  # warm the tokenizer
    t = time.perf_counter()
    for b in bundles:
        analyze_bundle(b)
    corpus_s = time.perf_counter() - t
    raw = sum(prep.raw_log_bytes(b) for b in bundles)
    print(f"corpus: {len(bundles)} bundles, {raw / 1e6:.1f} MB logs, {corpus_s:.2f} s total, "
          f"{corpus_s / len(bundles) * 1000:.0f} ms per bundle")

    bundle = parse_bundle(worst_case(args.pods, args.mib))
    raw = prep.raw_log_bytes(bundle)
    one = bundle.model_copy(update={"logs": bundle.logs[:1]})
    text = bundle.logs[0].text
    t = time.perf_counter()
    scrubbed = redact_bundle(one).logs[0].text
    redact_s = time.perf_counter() - t
    t = time.perf_counter()
    digest_log(scrubbed, source="bench")
    digest_s = time.perf_counter() - t
    mb = len(text) / 1e6
    print(f"one {mb:.1f} MB log: redaction {redact_s:.2f} s ({mb / redact_s:.1f} MB/s), "
          f"digest {digest_s:.2f} s ({mb / digest_s:.1f} MB/s)")
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = analyze_bundle(bundle)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    top = result.reduced_context["logs"][0]["decisive"][0]["line"]
    print(f"worst case: {args.pods} pods x 2 logs x {args.mib} MiB = {raw / 1e6:.1f} MB -> "
          f"{result.context_tokens} tokens in {med:.2f} s median of {args.repeat} ({raw / 1e6 / med:.1f} MB/s); "
          f"category {result.rules.category.value}; top line kept: {'AccessDenied' in top}")


if __name__ == "__main__":
    main()
