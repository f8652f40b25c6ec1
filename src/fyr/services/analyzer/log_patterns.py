"""What makes a log line decisive: the patterns and the one-line classifier behind `logs.digest_log`.

Kept apart from the digest machinery (bounded splitting, templates, context) so that the language
knowledge — Python tracebacks, Java causes, Go panics, OOM, exit codes, missing configuration — can
be read and extended in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

try:  # the classification gate over a whole batch of never-seen lines (logs._hinted_lines)
    import re2 as _re2  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - google-re2 is a dependency; the fallback is plain `re`
    _re2 = None

# --- line classification (run once per distinct key, on its first line) ---------------------------
_PY_TB = re.compile(r"^Traceback \(most recent call last\):")
_PY_CHAIN = re.compile(
    r"^(?:The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:)"
)
_STACK_TOP = re.compile(
    r"^(?:Exception in thread \S+ |Caused by: |Uncaught |\[?cause\]?: )?"
    r"(?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$]*(?:Error|Exception|Throwable|Exit|Interrupt|Failure)(?:: |:$|$| \[)"
)
_CAUSED_BY = re.compile(r"^\s*(?:Caused by: |---> )")  # Java/Kotlin cause, .NET inner exception
# .NET, Ruby and Elixir crash lines (their exception name comes last or after a marker)
_OTHER_EXCEPTION = re.compile(
    r"^Unhandled [Ee]xception\. \S+(?:Exception|Error)\b"
    r"|^\S+:\d+:in `[^']*': .+ \((?:[A-Z]\w*::)*[A-Z]\w*(?:Error|Exception)\)$"
    r"|^\*\* \([A-Z][\w.]*(?:Error|Exception)\) "
)
_FRAME = re.compile(r"^(?:\s+\S|\s*Caused by: |\s*\.\.\. \d+ (?:more|common frames omitted))")
_PANIC = re.compile(r"^panic: |^fatal error: |^thread '.*' panicked at |^goroutine \d+ \[running\]:")
_GOROUTINE = re.compile(r"^goroutine \d+ \[")
_OOM = re.compile(
    r"OutOfMemoryError|[Oo]ut of memory|OOMKilled|OOM[- ]?killed|\bKilled\b|Cannot allocate memory"
    r"|heap out of memory|\bMemoryError\b|std::bad_alloc|memory limit exceeded"
)
_CONFIG = re.compile(
    r"exec format error|executable file not found|[Nn]o such file or directory|[Cc]annot find module"
    r"|[Ee]nvironment variable\b.{0,80}?\b(?:not set|is not set|missing|undefined|required|is empty|not defined)"
    r"|\bmissing (?:required )?(?:env(?:ironment)? var(?:iable)?s?|config(?:uration)?|setting)"
    r"|\b(?:env(?:ironment)? var(?:iable)?|setting|config(?:uration)? (?:key|value))\s+['\"]?[A-Z][A-Z0-9_]+['\"]?"
    r" (?:is )?(?:not set|missing|required|undefined)"
    r"|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+ (?:is )?(?:not set|must be set|is required|required|undefined|missing)"
    r"|KeyError: '[A-Z][A-Z0-9_]+'|Field required|[Mm]issing required (?:env|environment|config|setting)"
    r"|\b[Mm]issing [`'\"][\w.-]+[`'\"] for\b|\b[A-Za-z_][A-Za-z0-9_]*: unbound variable\b"
)
# A line that names the port the application listens on: against a probe's port it shows a mismatch.
_LISTEN = re.compile(
    r"\b(?:listen(?:ing|s)?|started|running|serving|bound)\b.{0,80}?(?:\bport(?:\(s\)|s)?\W{0,4}\d{2,5}|:\d{2,5}\b)"
    r"|\bListen: \S+:\d{2,5}|\bhttp=\S*:\d{2,5}", re.IGNORECASE)
_SOURCE_ECHO = re.compile(r"^\s+(?:raise|throw)\b")
# Timestamps and severities some runtimes put before the message ("2025-02-03 18:59:59 ArgumentError: …").
_LEAD_TIMESTAMP = re.compile(r"^\[?\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\]?\s+")
# "FEATURE_FLAGS not set, using defaults": the application noticed and carried on; not the cause.
_HANDLED = re.compile(r"\busing (?:the )?defaults?\b|\bdefault(?:ing|s)? to\b|\bfalling back\b|\bignor(?:ed|ing)\b")
_FATAL = re.compile(
    r"\bFATAL\b|\b[Ff]atal\b|\bEMERG(?:ENCY)?\b|\bemerg\b|\bCRITICAL\b|\bCRIT\b|\b[Cc]ritical\b|\bPANIC\b"
    r"|level=(?:fatal|critical|panic)|\"level\":\s*\"(?:fatal|critical|crit|emerg|panic)\"|^F\d{4} "
)
_EXIT = re.compile(
    r"exit code|exit status|exited with|exiting with (?:code|status)|\bexit\(\d+\)|terminated with (?:code|signal)"
    r"|non-zero exit|process exited|returned non-zero"
)
_ERROR_SPECIFIC = re.compile(
    r"[Cc]onnection refused|ECONNREFUSED|[Pp]ermission denied|EACCES|[Aa]ccess denied|[Uu]nauthorized|Forbidden"
    r"|[Nn]ame or service not known|no such host|ENOTFOUND|[Cc]onnection reset|[Tt]imed? ?out|deadline exceeded"
)
_ERROR_GENERIC = re.compile(
    r"\bERROR\b|\b[Ee]rror\b|\bERR\b|level=error|\"level\":\s*\"(?:error|err)\"|^E\d{4} |\b[Ff]ailed\b|\bFAILED\b"
)

# Cheap gate before the detailed expressions: a line with none of these (lower-cased) words is not
# decisive. Keeps classification of never-seen lines (a million distinct lines) at a couple of µs.
_HINT = re.compile(
    rb"error|exception|traceback|panic|fatal|emerg|crit|kill|memory|oom|alloc|exit|terminated|no such|exec"
    rb"|not found|cannot find|not set|must be set|required|missing|undefined|not defined|is empty|refused"
    rb"|denied|unauthori|forbidden|timed out|timeout|deadline|reset|not known|enotfound|econn|eacces|fail"
    rb"|goroutine|caused by|throwable|interrupt|unhandled|cause|unbound|listen|port"
)
_HINT_RE2 = _re2.compile(_HINT.pattern) if _re2 is not None else None
_BATCH_GATE_MIN = 512

# Bytes that do not occur in text: a line where they are more than 10% is binary data, not a log line.
_TEXT_BYTES = bytes(b for b in range(256) if not ((b < 32 and b not in (9, 13, 27)) or b == 127))

_BASE_SCORE = {"panic": 90.0, "oom": 90.0, "config": 85.0, "exception": 80.0, "fatal": 75.0, "exit": 60.0}


@dataclass
class _Class:
    kind: str  # one of DecisiveBlock.kind, or "py_tb", "stack", "panic_go"
    base: float


def _classify(line: str) -> _Class | None:
    """What kind of decisive line this is, if any (runs once per distinct key)."""
    stripped = _LEAD_TIMESTAMP.sub("", line, count=1)
    if _SOURCE_ECHO.match(stripped):
        return None  # the interpreter echoing the source line that raised; the error line says it
    found = _classify_message(line)
    if found is None and stripped != line:
        found = _classify_message(stripped)
    return found


def _classify_message(line: str) -> _Class | None:
    if _PY_TB.match(line):
        return _Class("py_tb", 80.0)
    if _PANIC.match(line):
        return _Class("panic_go", 90.0)
    if _OOM.search(line):
        return _Class("oom", 90.0)
    if _STACK_TOP.match(line) or _CAUSED_BY.match(line) or _OTHER_EXCEPTION.match(line):
        return _Class("stack", 80.0)
    if _CONFIG.search(line) and not _HANDLED.search(line):
        return _Class("config", 85.0)
    if _FATAL.search(line):
        return _Class("fatal", 75.0)
    if _EXIT.search(line):
        return _Class("exit", 60.0)
    if "UnhandledPromiseRejection" in line or "nhandled promise rejection" in line:
        return _Class("stack", 80.0)
    if _ERROR_SPECIFIC.search(line):
        return _Class("error", 45.0)
    if _ERROR_GENERIC.search(line):
        return _Class("error", 25.0 if "ailed" not in line or "rror" in line or "ERR" in line else 15.0)
    if _LISTEN.search(line):
        return _Class("listen", 20.0)
    return None
