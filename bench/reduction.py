"""Reduction benchmark: context size and evidence recall vs a naive baseline, throughput, hostile inputs.

Three tables:

1. Corpus (tests/corpus, each case with its expected evidence and planted secrets): Fyr's reduced
   context (`analyze_bundle`, budget 4,000 tokens) beside a naive context — the last 100 lines of
   every log plus every event — in cl100k tokens, evidence recall (expected substrings present in
   the context) and planted secrets present in the context.
2. Throughput on a ~50 MB bundle (5 pods x current+previous logs of 5 MB: mixed access/JSON/klog
   noise, secrets sprinkled, harmless ERROR lines early, the real traceback near the end): the whole
   pipeline, and its stages alone (redaction of the raw logs, the digest), beside Drain3 on a sample.
3. Hostile inputs, each in a fresh interpreter: seconds, MB/s and the growth of peak RSS while
   digesting (or redacting, or running the whole pipeline on) a 200 MB log, a 50 MB line, 200 MB of
   binary garbage, a million lines, a million distinct lines.

    .venv/bin/python bench/reduction.py [--parts corpus,throughput,literals,hostile] [--mb 50] [--repeat 3]

Numbers vary with the machine and its load (the reference run shares 2 cores with other jobs).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402 - after the sys.path line

from fyr.core.redaction import Literals, encodings, redact_text  # noqa: E402
from fyr.models.bundle import RolloutBundle, load_bundle, parse_bundle  # noqa: E402
from fyr.services.analyzer.logs import digest_log  # noqa: E402
from fyr.services.analyzer.pipeline import analyze_bundle  # noqa: E402
from fyr.services.analyzer.redaction import redact_bundle  # noqa: E402
from fyr.services.analyzer.tokens import count_tokens  # noqa: E402
from tests.corpus.builders import Rollout, container, crashloop, template  # noqa: E402

CORPUS = REPO / "tests" / "corpus"
BUDGET = 4000


# --- 1. corpus: Fyr vs naive ---------------------------------------------------------------------
def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value)


def naive_context(bundle: RolloutBundle) -> dict[str, Any]:
    """What a quick script would send: the last 100 lines of every log and every event, unredacted."""
    logs = [{"pod": e.pod, "container": e.container, "previous": e.previous,
             "last_100_lines": e.text.splitlines()[-100:]} for e in bundle.logs]
    events = []
    for ev in bundle.events:
        obj = ev.get("involvedObject") or {}
        events.append({"object": f"{obj.get('kind')}/{obj.get('name')}", "type": ev.get("type"),
                       "reason": ev.get("reason"), "message": ev.get("message") or ev.get("note"),
                       "count": ev.get("count")})
    return {"logs": logs, "events": events}


def corpus_table() -> None:
    expected: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
    rows = []
    for name in sorted(expected):
        exp = expected[name]
        bundle = load_bundle(CORPUS / f"{name}.json")
        result = analyze_bundle(bundle, context_tokens=BUDGET)
        fyr_text = "\n".join(_strings(result.reduced_context))
        naive = naive_context(bundle)
        naive_json = json.dumps(naive, ensure_ascii=False, indent=1)
        naive_text = "\n".join(_strings(naive))
        needles = exp["evidence"]
        rows.append({
            "case": name,
            "raw_kb": sum(len(e.text.encode()) for e in bundle.logs) / 1024,
            "fyr_tokens": result.context_tokens,
            "fyr_found": sum(n in fyr_text for n in needles),
            "naive_tokens": count_tokens(naive_json),
            "naive_found": sum(n in naive_text for n in needles),
            "wanted": len(needles),
            "fyr_leaks": sum(s in fyr_text for s in exp["secrets"]),
            "naive_leaks": sum(s in naive_text for s in exp["secrets"]),
            "planted": len(exp["secrets"]),
        })
    print(f"\n== 1. corpus: Fyr reduced context (budget {BUDGET}) vs naive (last 100 lines per log + all events)")
    print(f"{'case':34} {'raw KB':>8} | {'Fyr tok':>7} {'recall':>6} {'leaks':>5} | {'naive tok':>9} {'recall':>6} "
          f"{'leaks':>5}")
    for r in rows:
        print(f"{r['case']:34} {r['raw_kb']:8.1f} | {r['fyr_tokens']:7d} {r['fyr_found']:>3}/{r['wanted']:<2} "
              f"{r['fyr_leaks']:5d} | {r['naive_tokens']:9d} {r['naive_found']:>3}/{r['wanted']:<2} "
              f"{r['naive_leaks']:5d}")
    wanted = sum(r["wanted"] for r in rows)
    fyr_tok = sorted(r["fyr_tokens"] for r in rows)
    naive_tok = sorted(r["naive_tokens"] for r in rows)
    over = sum(t > BUDGET for t in naive_tok)
    fyr_found = sum(r["fyr_found"] for r in rows)
    naive_found = sum(r["naive_found"] for r in rows)
    print(f"{'TOTAL (' + str(len(rows)) + ' cases)':34} {sum(r['raw_kb'] for r in rows):8.1f} | "
          f"recall Fyr {fyr_found}/{wanted} = {fyr_found / wanted:.1%}, naive {naive_found}/{wanted} = "
          f"{naive_found / wanted:.1%}")
    print(f"{'':34} {'':8} | tokens median/max Fyr {fyr_tok[len(fyr_tok) // 2]}/{fyr_tok[-1]}, naive "
          f"{naive_tok[len(naive_tok) // 2]}/{naive_tok[-1]} ({over} naive contexts over {BUDGET})")
    print(f"{'':34} {'':8} | planted secrets in context: Fyr {sum(r['fyr_leaks'] for r in rows)}, naive "
          f"{sum(r['naive_leaks'] for r in rows)} of {sum(r['planted'] for r in rows)}")


# --- 2. throughput on a ~50 MB bundle ------------------------------------------------------------
def noise_lines(rnd: random.Random, n: int, start: int = 0) -> list[str]:
    out = []
    for i in range(start, start + n):
        r = rnd.random()
        if r < 0.45:
            out.append(f"2026-11-27T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z INFO  [http-nio-8080-exec-"
                       f"{i % 10}] c.a.s.RequestLogger - GET /api/v1/orders/{rnd.randint(1, 99999)} 200 "
                       f"{rnd.randint(1, 900)}ms req_id={rnd.getrandbits(64):016x}")
        elif r < 0.75:
            out.append(f'{{"ts":"2026-11-27T10:00:{i % 60:02d}Z","level":"info","msg":"cache refresh",'
                       f'"keys":{rnd.randint(1, 5000)},"took":"{rnd.random():.3f}s",'
                       f'"trace":"{rnd.getrandbits(128):032x}"}}')
        elif r < 0.999:
            out.append(f"I1127 10:00:00.{i % 1000000:06d}       1 reflector.go:{rnd.randint(100, 900)}] Listing and "
                       f"watching *v1.Pod from k8s.io/client-go@v0.29.0/tools/cache/reflector.go:229 "
                       f"uid {rnd.getrandbits(32):08x}-aaaa-bbbb-cccc-{rnd.getrandbits(48):012x}")
        else:
            out.append(f"2026-11-27T10:00:{i % 60:02d}Z DEBUG connecting to postgres://app:S3cr3tPw{i % 7}"
                       f"@db:5432/shop with Authorization: Bearer tok{rnd.getrandbits(64):016x}")
    return out


TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/shop/db.py", line 41, in connect',
    "    return psycopg.connect(settings.database_url)",
    'psycopg.OperationalError: connection failed: FATAL:  database "shop_v2" does not exist',
]


def big_log(seed: int, size: int, previous: bool) -> str:
    rnd = random.Random(seed)
    lines = ["2026-11-27T10:00:00Z ERROR telemetry exporter unreachable, continuing without metrics",
             "2026-11-27T10:00:00Z ERROR optional plugin 'pdf-export' failed to load"]
    total = 0
    while total < size:
        chunk = noise_lines(rnd, 2000, len(lines))
        lines += chunk
        total += sum(len(x) + 1 for x in chunk)
    if previous:
        lines += [*TRACEBACK, "2026-11-27T10:05:00Z INFO shutting down, exit code 1"]
    return "\n".join(lines) + "\n"


def throughput(total_mb: float, repeat: int) -> None:
    pods = 5
    size = int(total_mb * 1_000_000 / (pods * 2))
    r = Rollout("shop", "prod", template("shop", [container("app", "acme/shop:2.0")]),
                template("shop", [container("app", "acme/shop:1.9")]))
    for i in range(pods):
        pod = r.pod(i, statuses=[crashloop("app", "acme/shop:2.0", restarts=6)])
        r.log(pod, "app", big_log(i, size, previous=True), previous=True)
        r.log(pod, "app", big_log(100 + i, size, previous=False), previous=False)
    bundle = parse_bundle(r.bundle())
    texts = [e.text for e in bundle.logs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    analyze_bundle(load_bundle(CORPUS / "python_keyerror_env.json"))  # warm the tokenizer

    def median_seconds(fn: Any) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    result = analyze_bundle(bundle, context_tokens=BUDGET)
    pipeline_s = median_seconds(lambda: analyze_bundle(bundle, context_tokens=BUDGET))
    ctx = "\n".join(_strings(result.reduced_context))
    redact_s = median_seconds(lambda: redact_bundle(bundle))
    rules_s = median_seconds(lambda: [redact_text(text) for text in texts])
    digest_s = median_seconds(lambda: [digest_log(text, source=str(i)) for i, text in enumerate(texts)])

    sample = texts[0][:5_000_000]
    drain_lines = sample.splitlines()
    from drain3 import TemplateMiner  # the field's template miner, for comparison only

    miner = TemplateMiner()  # default config (it warns that drain3.ini is absent)
    t = time.perf_counter()
    for line in drain_lines:
        miner.add_log_message(line)
    drain_s = time.perf_counter() - t
    t = time.perf_counter()
    digest_log(sample, source="sample")
    own_s = time.perf_counter() - t
    smb = len(sample.encode()) / 1e6

    naive_tokens = count_tokens(json.dumps(naive_context(bundle), ensure_ascii=False, indent=1))
    print(f"\n== 2. throughput: {pods} pods x 2 logs = {mb:.1f} MB of logs (median of {repeat} runs)")
    print(f"{'stage':44} {'seconds':>8} {'MB/s':>8}")
    print(f"{'whole pipeline (analyze_bundle)':44} {pipeline_s:8.2f} {mb / pipeline_s:8.1f}")
    print(f"{'  redaction alone (redact_bundle, all layers)':44} {redact_s:8.2f} {mb / redact_s:8.1f}")
    print(f"{'  of which redact_text (layers 1-3) alone':44} {rules_s:8.2f} {mb / rules_s:8.1f}")
    print(f"{'  digest_log over the raw logs alone':44} {digest_s:8.2f} {mb / digest_s:8.1f}")
    print(f"{f'Drain3 add_log_message, {smb:.0f} MB sample':44} {drain_s:8.2f} {smb / drain_s:8.1f}")
    print(f"{f'digest_log, same {smb:.0f} MB sample':44} {own_s:8.2f} {smb / own_s:8.1f}")
    print(f"context: {result.context_tokens} tokens (naive baseline: {naive_tokens}); category "
          f"{result.rules.category.value}; root cause line in context: {'shop_v2' in ctx}; "
          f"planted secret in context: {'S3cr3tPw' in ctx}")


# --- 2b. known values: thousands of pod-spec values over a big log, one automaton ---------------------
def literals_table(values: int, mb: float) -> None:
    rnd = random.Random(5)
    secrets = [f"{rnd.getrandbits(64):016x}Pw{i}!" for i in range(values)]
    lines = noise_lines(rnd, 1000)
    text = ""
    while len(text) < mb * 1_000_000:
        chunk = lines[:]
        for j in range(0, len(chunk), 97):  # a pod-spec value printed now and then
            chunk[j] += " value=" + secrets[(j * 31 + len(text)) % values]
        text += "\n".join(chunk) + "\n"
    size = len(text.encode()) / 1e6
    t = time.perf_counter()
    lits = Literals(secrets)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    masked = lits.mask(text, "****")
    scan_s = time.perf_counter() - t
    assert not any(s in masked for s in secrets[:50])
    forms = sum(len(encodings(s)) for s in secrets)
    print(f"\n== 2b. known values: {values:,} pod-spec values ({forms:,} forms: raw, base64, URL, JSON) over "
          f"{size:.1f} MB")
    print(f"automaton build {build_s:.2f} s; one pass {scan_s:.2f} s = {size / scan_s:.1f} MB/s "
          "(the former per-bundle regex alternation: 61 s for 2,000 values over 10 MB)")


# --- 3. hostile inputs (one fresh interpreter each) ------------------------------------------------
def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    """Reset VmHWM (peak RSS) to the current RSS, so the peak measured is the run's own (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def _mixed_chunk() -> bytes:
    rnd = random.Random(1)
    data = "\n".join(noise_lines(rnd, 8000)) + "\n"
    return data.encode()


def hostile_case(name: str) -> dict[str, Any]:
    mb = 1_000_000
    chunk = _mixed_chunk()
    reps = 200 * mb // len(chunk)
    if name == "200 MB log, streamed":
        def gen() -> Iterator[bytes]:
            for _ in range(reps):
                yield chunk
            yield b"FATAL: disk full\n"
        size, run = reps * len(chunk), lambda: digest_log(gen(), source="x")
    elif name == "200 MB log, one bytes object":
        data = chunk * reps + b"FATAL: disk full\n"
        size, run = len(data), lambda: digest_log(data, source="x")
    elif name == "200 MB log, redact_text (str)":
        text = (chunk * reps).decode()
        size, run = len(text), lambda: redact_text(text)
    elif name == "200 MB log, whole pipeline":
        r = Rollout("shop", "prod", template("shop", [container("app", "acme/shop:2.0")]),
                    template("shop", [container("app", "acme/shop:1.9")]))
        pod = r.pod(0, statuses=[crashloop("app", "acme/shop:2.0", restarts=6)])
        r.log(pod, "app", (chunk * reps).decode() + "\n".join(TRACEBACK) + "\n", previous=True)
        bundle = parse_bundle(r.bundle())
        del r, pod
        size, run = reps * len(chunk), lambda: analyze_bundle(bundle, context_tokens=BUDGET)
    elif name == "50 MB single line":
        def gen() -> Iterator[bytes]:
            yield b"start\n"
            for _ in range(50):
                yield b"A" * mb
            yield b"\nKilled\n"
        size, run = 50 * mb, lambda: digest_log(gen(), source="x")
    elif name == "200 MB binary garbage":
        rnd = random.Random(7)
        blob = rnd.randbytes(mb)

        def gen() -> Iterator[bytes]:
            for i in range(200):
                yield blob[i:] + blob[:i]
        size, run = 200 * mb, lambda: digest_log(gen(), source="x")
    elif name == "1,000,000 lines":
        data = b"tick 1\n" * 1_000_000
        size, run = len(data), lambda: digest_log(data, source="x")
    elif name == "1,000,000 distinct lines":
        letters = "ghijklmnopqrstuvwxyz"

        def word(i: int) -> str:
            out = ""
            while True:
                out += letters[i % 20]
                i //= 20
                if not i:
                    return out
        data = "".join(f"user {word(i)} logged out\n" for i in range(1_000_000)).encode()
        size, run = len(data), lambda: digest_log(data, source="x")
    else:
        raise SystemExit(f"unknown case {name}")
    _reset_peak()
    base = _status_mb("VmRSS")
    t = time.perf_counter()
    run()
    seconds = time.perf_counter() - t
    peak = _status_mb("VmHWM")
    return {"case": name, "mb": size / mb, "seconds": seconds, "growth_mb": peak - base, "peak_mb": peak}


HOSTILE = ["200 MB log, streamed", "200 MB log, one bytes object", "200 MB log, redact_text (str)",
           "200 MB log, whole pipeline", "50 MB single line", "200 MB binary garbage", "1,000,000 lines",
           "1,000,000 distinct lines"]


def hostile_table() -> None:
    print("\n== 3. hostile inputs (fresh interpreter each; RSS growth = peak RSS during the run minus RSS before it;"
          " the input, when not streamed, is allocated before)")
    print(f"{'input':34} {'MB':>6} {'seconds':>8} {'MB/s':>7} {'RSS growth MB':>14} {'peak RSS MB':>12}")
    for name in HOSTILE:
        proc = subprocess.run([sys.executable, __file__, "--hostile-case", name], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name:34} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout)
        print(f"{r['case']:34} {r['mb']:6.0f} {r['seconds']:8.2f} {r['mb'] / r['seconds']:7.1f} "
              f"{r['growth_mb']:14.1f} {r['peak_mb']:12.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50.0, help="size of the throughput bundle's logs")
    ap.add_argument("--repeat", type=int, default=3, help="runs per throughput figure (median)")
    ap.add_argument("--parts", default="corpus,throughput,literals,hostile", help="comma-separated subset to run")
    ap.add_argument("--hostile-case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hostile_case:
        print(json.dumps(hostile_case(args.hostile_case)))
        return
    parts = set(args.parts.split(","))
    if "corpus" in parts:
        corpus_table()
    if "throughput" in parts:
        throughput(args.mb, args.repeat)
    if "literals" in parts:
        literals_table(2000, 10.0)
    if "hostile" in parts:
        hostile_table()


if __name__ == "__main__":
    main()
