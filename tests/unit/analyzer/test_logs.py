"""The log digest keeps the decisive lines, with context, counts and a sensible ranking."""

from __future__ import annotations

import pytest

from fyr.services.analyzer.logs import DecisiveBlock, LogDigest, digest_log, iter_lines

pytestmark = pytest.mark.timeout(30)


def _noise(n: int, start: int = 0) -> list[str]:
    return [
        f"2026-11-27T10:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z INFO GET /api/v1/items/{i} 200 "
        f"{i % 97}ms trace={i * 7919:016x}"
        for i in range(start, start + n)
    ]


def _digest(lines: list[str]) -> LogDigest:
    return digest_log("\n".join(lines) + "\n", source="shop-7d9f-abcde/app (previous)")


def _top(digest: LogDigest) -> DecisiveBlock:
    assert digest.decisive, "no decisive line found"
    return digest.decisive[0]


PY_CHAINED = """Traceback (most recent call last):
  File "/app/shop/config.py", line 12, in load
    url = os.environ["DATABASE_URL"]
  File "<frozen os>", line 679, in __getitem__
KeyError: 'DATABASE_URL'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/main.py", line 4, in <module>
    settings = load()
  File "/app/shop/config.py", line 14, in load
    raise RuntimeError("invalid configuration") from exc
RuntimeError: invalid configuration""".splitlines()

JAVA = """2026-11-27 10:00:03.101 ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed
org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource'
\tat org.springframework.beans.factory.support.AbstractBeanFactory.getBean(AbstractBeanFactory.java:208)
\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:1303)
Caused by: org.hibernate.service.spi.ServiceException: Unable to create requested service
\tat org.hibernate.service.internal.AbstractServiceRegistryImpl.createService(AbstractServiceRegistryImpl.java:275)
\t... 12 more
Caused by: java.net.ConnectException: Connection refused (Connection refused)
\tat java.base/sun.nio.ch.Net.connect0(Native Method)
\tat java.base/sun.nio.ch.Net.connect(Net.java:579)
\t... 40 more""".splitlines()

GO_PANIC = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a8f2c]

goroutine 1 [running]:
main.(*Server).Start(0x0)
\t/src/server.go:42 +0x2c
main.main()
\t/src/main.go:17 +0x85
exit status 2""".splitlines()

NODE = """/app/index.js:3
    throw new Error('STRIPE_API_KEY is not set');
    ^

Error: STRIPE_API_KEY is not set
    at Object.<anonymous> (/app/index.js:3:11)
    at Module._compile (node:internal/modules/cjs/loader:1256:14)
    at node:internal/main/run_main_module:23:47

Node.js v20.10.0""".splitlines()

NODE_UNHANDLED = """[UnhandledPromiseRejection: This error originated either by throwing inside of an async function \
without a catch block. The promise rejected with the reason "connect ECONNREFUSED 10.0.0.5:5432".] {
  code: 'ERR_UNHANDLED_REJECTION'
}""".splitlines()


def test_python_chained_traceback_keeps_root_cause_header_frames_and_final_exception() -> None:
    digest = _digest(["starting shop v1.4.2", *PY_CHAINED])
    top = _top(digest)
    assert top.line == "KeyError: 'DATABASE_URL'"
    assert top.kind == "config"
    assert "Traceback (most recent call last):" in top.context
    assert any("os.environ" in c for c in top.context)
    assert any("RuntimeError: invalid configuration" in c for c in top.context)
    # the chained traceback is part of the root's block, not a second block above it
    assert not any(b.line == "RuntimeError: invalid configuration" for b in digest.decisive)


def test_python_plain_traceback_final_line_is_decisive() -> None:
    lines = ["Traceback (most recent call last):", '  File "/app/w.py", line 3, in <module>',
             "    import numpy", "ModuleNotFoundError: No module named 'numpy'"]
    top = _top(_digest(lines))
    assert top.line == "ModuleNotFoundError: No module named 'numpy'"
    assert top.kind == "exception"
    assert top.context[0] == "Traceback (most recent call last):"


def test_java_exception_reports_deepest_caused_by() -> None:
    top = _top(_digest(_noise(50) + JAVA))
    assert top.line == "Caused by: java.net.ConnectException: Connection refused (Connection refused)"
    assert top.kind == "exception"
    assert any("BeanCreationException" in c for c in top.context)
    assert any("Application run failed" in c for c in top.context)


def test_go_panic_keeps_goroutine_and_frames() -> None:
    digest = _digest(_noise(20) + GO_PANIC)
    top = _top(digest)
    assert top.kind == "panic"
    assert top.line.startswith("panic: runtime error: invalid memory address")
    assert "goroutine 1 [running]:" in top.context
    assert "main.(*Server).Start(0x0)" in top.context


def test_node_error_with_stack_and_source_line() -> None:
    top = _top(_digest(NODE))
    assert top.line == "Error: STRIPE_API_KEY is not set"
    assert top.kind == "config"
    assert any("at Object.<anonymous> (/app/index.js:3:11)" in c for c in top.context)


DOTNET = """Unhandled exception. System.InvalidOperationException: Unable to resolve service for type 'IRepo'
 ---> System.IO.FileNotFoundException: Could not find file '/app/appsettings.Production.json'.
   at Microsoft.Extensions.DependencyInjection.ServiceProvider.GetService(Type serviceType)
   at Program.<Main>$(String[] args) in /src/Program.cs:line 12""".splitlines()


def test_dotnet_unhandled_exception_reports_the_inner_exception() -> None:
    top = _top(_digest(_noise(5) + DOTNET))
    assert top.line.strip().startswith("---> System.IO.FileNotFoundException")
    assert any("Unhandled exception. System.InvalidOperationException" in c for c in top.context)


@pytest.mark.parametrize(
    "line",
    [
        "/app/lib/shop.rb:12:in `block in <main>': undefined local variable or method `cfg' (NameError)",
        "** (RuntimeError) could not start application shop: exited in: Shop.Application.start(:normal, [])",
    ],
)
def test_ruby_and_elixir_crash_lines(line: str) -> None:
    top = _top(_digest([*_noise(5), line]))
    assert top.line == line
    assert top.kind == "exception"


def test_node_unhandled_promise_rejection() -> None:
    digest = _digest(_noise(10) + NODE_UNHANDLED)
    assert any("UnhandledPromiseRejection" in b.line for b in digest.decisive)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("java.lang.OutOfMemoryError: Java heap space", "oom"),
        ("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", "oom"),
        ("Killed", "oom"),
        ("exec /usr/local/bin/server: exec format error", "config"),
        ("/docker-entrypoint.sh: line 3: /app/start.sh: No such file or directory", "config"),
        ("error: environment variable DATABASE_URL is not set", "config"),
        ("KeyError: 'SECRET_KEY'", "config"),
        ("2026-11-27 10:00:01 FATAL: password authentication failed for user \"app\"", "fatal"),
        ('{"level":"fatal","msg":"cannot start","err":"bind: address already in use"}', "fatal"),
        ("CRITICAL worker boot failed", "fatal"),
        ("F1127 10:00:00.000000       1 main.go:52] unable to load kubeconfig", "fatal"),
        ("process exited with code 137", "exit"),
        ("dial tcp 10.0.0.5:5432: connect: connection refused", "error"),
        ("open /var/lib/app/data.db: permission denied", "error"),
        ("thread 'main' panicked at 'called `Option::unwrap()` on a `None` value', src/main.rs:5:37", "panic"),
    ],
)
def test_decisive_kinds(line: str, kind: str) -> None:
    digest = _digest([*_noise(30), line, *_noise(5, 30)])
    top = _top(digest)
    assert top.line == line
    assert top.kind == kind
    assert top.line_no == 31
    if kind != "panic":  # a panic keeps the lines after it (goroutine, frames)
        assert len(top.context) == 4  # two lines before, two after


def test_decisive_line_buried_in_ten_thousand_noise_lines_survives() -> None:
    lines = [*_noise(5000), "psycopg2.OperationalError: FATAL:  database \"shop\" does not exist", *_noise(5000, 5000)]
    digest = _digest(lines)
    assert digest.total_lines == 10_001
    assert _top(digest).line.startswith("psycopg2.OperationalError")
    assert _top(digest).line_no == 5001


def test_repeated_decisive_line_is_one_entry_with_a_count() -> None:
    lines: list[str] = []
    for i in range(3000):
        lines += _noise(2, i * 2)
        lines.append(f"2026-11-27T10:00:{i % 60:02d}Z ERROR dial tcp 10.0.0.{i % 9}:6379: connect: connection refused")
    digest = _digest(lines)
    refused = [b for b in digest.decisive if "connection refused" in b.line]
    assert len(refused) == 1
    assert refused[0].count == 3000
    assert refused[0].line_no == 3
    assert refused[0].last_line_no == 9000


def test_repeated_python_traceback_counts_occurrences() -> None:
    lines: list[str] = []
    for i in range(500):
        lines += _noise(3, i * 3) + PY_CHAINED
    digest = _digest(lines)
    roots = [b for b in digest.decisive if b.line == "KeyError: 'DATABASE_URL'"]
    assert len(roots) == 1 and roots[0].count == 500
    assert len(digest.decisive) <= 3


def test_harmless_early_errors_rank_below_the_real_fatal_at_the_end() -> None:
    lines = [
        "ERROR failed to load optional plugin 'metrics-extra': not installed",
        "ERROR could not reach telemetry endpoint, continuing without it",
        "Error: deprecated config key 'cache.size' ignored",
        *_noise(2000),
        "FATAL: could not open data directory /var/lib/shop: permission denied",
    ]
    digest = _digest(lines)
    assert _top(digest).line.startswith("FATAL: could not open data directory")
    harmless = [b for b in digest.decisive if "telemetry" in b.line]
    assert harmless and harmless[0].score < _top(digest).score


def test_java_root_cause_outranks_the_generic_error_log_line_before_it() -> None:
    digest = _digest(["WARN slow startup", *JAVA, *_noise(10)])
    assert "ConnectException" in _top(digest).line


def test_stack_trace_split_across_internal_batches_is_followed() -> None:
    # ~1.05 MiB of noise puts the traceback across the first 1 MiB batch boundary.
    noise = _noise(12_336)
    assert 0 < (1 << 20) - len("\n".join(noise)) < 200
    digest = _digest([*noise, *PY_CHAINED, *_noise(10)])
    assert _top(digest).line == "KeyError: 'DATABASE_URL'"
    assert _top(digest).line_no == 12_341
    assert any("RuntimeError: invalid configuration" in c for c in _top(digest).context)


def test_first_and_last_lines_and_totals() -> None:
    lines = [f"line {i}" for i in range(100)]
    text = "\n".join(lines) + "\n"
    digest = digest_log(text, source="a/b")
    assert digest.first_lines == lines[:5]
    assert digest.last_lines == lines[-10:]
    assert digest.total_lines == 100
    assert digest.total_bytes == len(text.encode())
    assert digest.source == "a/b"


def test_templates_group_lines_that_differ_only_in_numbers_and_ids() -> None:
    digest = _digest(_noise(1000) + ["worker ready"] * 3)
    template, count = digest.templates[0]
    assert count == 1000
    assert "INFO GET /api/v<*>/items/<*> <*> <*>ms trace=<*>" in template
    assert ("worker ready", 3) in digest.templates


def test_empty_log() -> None:
    digest = digest_log(b"", source="x")
    assert digest.total_lines == 0 and digest.decisive == [] and digest.templates == []


def test_optional_redaction_of_the_digest() -> None:
    lines = ["FATAL: cannot connect to postgres://app:hunter2@db:5432/shop", *_noise(3)]
    digest = digest_log("\n".join(lines), source="x", redact=True)
    assert _top(digest).line == "FATAL: cannot connect to postgres://app:****@db:5432/shop"
    assert "hunter2" not in repr(digest)


def test_iter_lines_decodes_strips_ansi_and_caps_length() -> None:
    data = b"plain\r\n\x1b[31mred\x1b[0m text\n\xff\xfe bad utf8\n" + b"x" * 5000 + b"\nlast"
    lines = list(iter_lines(data, max_line_chars=100))
    assert lines[0] == "plain"
    assert lines[1] == "red text"
    assert lines[2] == "\ufffd\ufffd bad utf8"
    assert lines[3] == "x" * 100 + "…[truncated]"
    assert lines[4] == "last"


def test_iter_lines_accepts_a_stream_of_chunks_split_mid_line() -> None:
    chunks = [b"alpha\nbe", b"ta\ngam", b"ma"]
    assert list(iter_lines(chunks)) == ["alpha", "beta", "gamma"]


def test_pem_private_key_body_lines_never_reach_the_digest() -> None:
    body = ["MIIEowIBAAKCAQEAx4ZbXqZ9", "Q29uZmlkZW50aWFsS2V5Qm9keQ", "c2VjcmV0LWtleS1ib2R5LWxpbmU"]
    lines = ["loading key", "-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----",
             "FATAL: key rejected"]
    digest = _digest(lines)
    dumped = repr(digest)
    assert not any(b in dumped for b in body)
    assert digest.total_lines == len(lines)


def test_redacted_templates_mask_tokens_before_numbers() -> None:
    lines = [f"push {i} with glpat-Ab12Cd34Ef56Gh78Ij90" for i in range(5)]
    digest = digest_log("\n".join(lines), source="x", redact=True)
    assert digest.templates[0] == ("push <*> with glpat-****", 5)


def test_decisive_lines_among_thousands_of_distinct_lines_are_found() -> None:
    letters = "ghijklmnopqrstuvwxyz"
    words = [letters[i % 20] + letters[i // 20 % 20] + letters[i // 400 % 20] for i in range(3000)]
    lines = [f"user {w} logged out" for w in words]  # 3,000 never-seen keys in one batch
    lines.insert(1500, "E1127 10:00:00.000000 1 main.go:52] lost connection to the API server")
    lines.insert(2500, "FATAL: shutting down, cannot reach vault")
    digest = _digest(lines)
    found = {b.line for b in digest.decisive}
    assert "FATAL: shutting down, cannot reach vault" in found
    assert "E1127 10:00:00.000000 1 main.go:52] lost connection to the API server" in found


def test_a_missing_setting_the_app_handled_is_not_decisive() -> None:
    log = (
        "WARN  FEATURE_FLAGS not set, using defaults\n"
        "INFO  CACHE_TTL is not set, defaulting to 60s\n"
        "Traceback (most recent call last):\n"
        '  File "/app/settings.py", line 31, in from_env\n'
        "KeyError: 'PAYMENT_API_URL'\n"
    )
    lines = [b.line for b in digest_log(log, source="api/app").decisive]
    assert lines == ["KeyError: 'PAYMENT_API_URL'"]


@pytest.mark.parametrize("line", [
    "Tomcat started on port(s): 8080 (http) with context path ''", "Now listening on: http://[::]:80",
    "Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)", "Server started on port 3000",
    "2024-01-01T00:00:00Z INFO listening on :9090", "2020/04/09 18:01:02 cmd/web.go:208:runWeb() [I] Listen: http://0.0.0.0:8080",
])
def test_a_line_naming_where_the_application_listens_is_kept(line: str) -> None:
    from fyr.services.analyzer.log_patterns import _classify

    found = _classify(line)
    assert found is not None and found.kind == "listen"


@pytest.mark.parametrize(("line", "kind"), [
    ("2025-02-03 18:59:59 ArgumentError: Missing `secret_key_base` for 'production' environment, set this string "
     "with `bin/rails credentials:edit` (ArgumentError)", {"stack", "config"}),
    ("/opt/jboss/tools/docker-entrypoint.sh: line 165: DB_ADDR: unbound variable", {"config"}),
])
def test_configuration_errors_behind_timestamps_or_in_shell_are_decisive(line: str, kind: set[str]) -> None:
    from fyr.services.analyzer.log_patterns import _classify

    found = _classify(line)
    assert found is not None and found.kind in kind


def test_an_echoed_raise_statement_is_not_a_decisive_line() -> None:
    from fyr.services.analyzer.log_patterns import _classify

    echoed = '          raise ArgumentError, "Missing `secret_key_base` for \'#{Rails.env}\' environment"'
    assert _classify(echoed) is None
