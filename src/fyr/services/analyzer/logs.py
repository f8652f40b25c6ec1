"""One container log → a small digest: counts, templates and the decisive lines with their context.

Why not Drain3: it mines templates line by line in Python (tokenise, tree search, similarity) and runs
at a few MB/s; a crash-looping pod can hand us hundreds of MB. Here a line's template *key* is the line
with every digit and hex letter deleted (`bytes.translate`, C speed), so lines that differ only in
timestamps, counters, durations, UUIDs, hashes or addresses share a key. Counting keys and looking up
their (cached, per-key) classification are the only per-line work; regular expressions run once per
distinct key, never over the whole text. The readable template shown to a person is the first line of
each key with numbers and ids masked.

Memory stays bounded on hostile input (hundreds of MB, one 50 MB line, binary garbage, a million
distinct lines): the input is consumed in ~1 MiB batches split at newlines, a line is never kept beyond
`max_line_chars`, and the key tables are pruned to their most frequent entries when they grow.

Decisive lines (exceptions with their root cause, panics, OOM, fatal/critical lines, exit codes,
missing configuration, connection refused, permission denied) are assembled with a little context and
deduplicated by key with a count, then ranked: kind first, then position (near the end of the log is
where the real failure is), then a small bonus for repetition.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from fyr.core.redaction import ANSI_ESCAPE
from fyr.services.analyzer.log_patterns import (
    _BASE_SCORE,
    _BATCH_GATE_MIN,
    _CAUSED_BY,
    _CONFIG,
    _FRAME,
    _GOROUTINE,
    _HINT,
    _HINT_RE2,
    _OOM,
    _PY_CHAIN,
    _TEXT_BYTES,
    _Class,
    _classify,
)
from fyr.services.analyzer.redaction import redact_text

__all__ = ["DecisiveBlock", "LogDigest", "digest_log", "iter_lines"]

_BATCH_BYTES = 1 << 20
_LOOKAHEAD = 400  # lines kept unanalysed at a batch end so a stack trace can be followed into the next batch
_BEFORE = 5  # lines kept before the analysed region for "before" context and chained-traceback markers
_KEY_BYTES = 256
_REP_CHARS = 300
_CONTEXT_CHARS = 400
_MAX_KEYS = 20_000
_KEEP_KEYS = 5_000
_MAX_BLOCKS = 500
_TRUNCATED = "…[truncated]"

_DELETE = bytes(range(0x30, 0x3A)) + b"abcdefABCDEF" + bytes(range(0, 9)) + bytes(range(0x0B, 0x20)) + b"\x7f"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MASK_TEMPLATE = re.compile(
    r"\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?"
    r"|\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"
    r"|\b0x[0-9a-fA-F]+\b"
    r"|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}\b"
    r"|\d+(?:\.\d+)*"
)



@dataclass
class DecisiveBlock:
    """A decisive log line, a few lines around it, and how often its template occurred."""

    line: str
    context: list[str]
    count: int
    kind: str  # "exception" | "panic" | "fatal" | "oom" | "exit" | "config" | "error" | "listen"
    score: float
    line_no: int  # 1-based, first occurrence
    last_line_no: int = 0  # 1-based, last occurrence (ranking: near the end matters)


@dataclass
class LogDigest:
    """What one container log says, in a few hundred tokens."""

    source: str
    total_lines: int
    total_bytes: int
    first_lines: list[str]
    last_lines: list[str]
    decisive: list[DecisiveBlock]
    templates: list[tuple[str, int]]
    truncated_lines: int = 0  # lines longer than max_line_chars (cut)


# --- bounded line splitting ------------------------------------------------------------------------
def _chunks(data: str | bytes | Iterable[bytes], size: int = _BATCH_BYTES) -> Iterator[bytes]:
    if isinstance(data, str):
        for start in range(0, len(data), size):
            yield data[start : start + size].encode("utf-8", errors="replace")
        return
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    for chunk in data:
        view = memoryview(chunk)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])


def _batches(chunks: Iterator[bytes], max_line_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines (no trailing newline) and the input bytes they stand for.

    A line longer than a whole batch is cut to its head (`max_line_bytes + 1` bytes, so the decoder
    knows it was cut) and the rest is skipped up to the next newline without being buffered.
    """
    buf = b""
    skipping = False
    for chunk in chunks:
        consumed = len(chunk)
        if skipping:
            newline = chunk.find(b"\n")
            if newline == -1:
                yield b"", consumed
                continue
            chunk, skipping = chunk[newline + 1 :], False
        buf += chunk
        if len(buf) < _BATCH_BYTES:
            yield b"", consumed
            continue
        cut = buf.rfind(b"\n")
        if cut == -1:
            yield buf[: max_line_bytes + 1] + b"\n", consumed
            buf, skipping = b"", True
            continue
        block, buf = buf[: cut + 1], buf[cut + 1 :]
        yield block, consumed
    if buf:
        yield (buf if buf.endswith(b"\n") else buf + b"\n"), 0


def _decode(raw: bytes, max_chars: int) -> tuple[str, bool]:
    text = raw[: max_chars * 4 + 4].decode("utf-8", errors="replace")
    if "\x1b" in text:
        text = ANSI_ESCAPE.sub("", text)
    text = text.rstrip("\r")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    if len(text) > max_chars or len(raw) > max_chars * 4 + 4:
        return text[:max_chars] + _TRUNCATED, True
    return text, False


def iter_lines(data: str | bytes | Iterable[bytes], *, max_line_chars: int = 2000) -> Iterator[str]:
    """The lines of `data`, each decoded (invalid UTF-8 replaced), ANSI-free and cut to `max_line_chars`."""
    for block, _ in _batches(_chunks(data), max_line_chars * 4):
        if block:
            for raw in block[:-1].split(b"\n"):
                yield _decode(raw, max_line_chars)[0]


# --- digest ----------------------------------------------------------------------------------------
@dataclass
class _State:
    max_line_chars: int
    total_lines: int = 0
    truncated: int = 0
    in_pem: bool = False  # inside a multi-line PEM private key block (its lines are never kept)
    counts: Counter[bytes] = field(default_factory=Counter)
    reps: dict[bytes, bytes] = field(default_factory=dict)  # key -> its first raw line (head only)
    classes: dict[bytes, _Class | None] = field(default_factory=dict)
    first: list[str] = field(default_factory=list)
    buffer: list[bytes] = field(default_factory=list)
    buffer_start: int = 0  # global 0-based index of buffer[0]
    triggers: list[tuple[int, _Class]] = field(default_factory=list)
    skip_until: int = 0
    blocks: dict[bytes, DecisiveBlock] = field(default_factory=dict)
    last_tb: tuple[DecisiveBlock, int] | None = None  # last Python traceback block and its end index

    def text(self, index: int, limit: int = _CONTEXT_CHARS) -> str:
        return _decode(self.buffer[index - self.buffer_start], min(limit, self.max_line_chars))[0]

    def has(self, index: int) -> bool:
        return self.buffer_start <= index < self.buffer_start + len(self.buffer)


def _is_binary(raw: bytes) -> bool:
    return len(raw.translate(None, _TEXT_BYTES)) * 10 > len(raw)


def _klog_severe(raw: bytes) -> bool:
    return raw[:1] in (b"E", b"F") and raw[1:5].isdigit()  # klog E1127 / F1127 prefixes


def _hinted_lines(block: bytes, raws: list[bytes]) -> set[int]:
    """Indices of the lines of `block` that contain a gate word (one RE2 pass over the batch)."""
    if _HINT_RE2 is None:
        return set(range(len(raws)))
    starts = list(accumulate((len(r) + 1 for r in raws), initial=0))
    return {bisect_right(starts, m.start()) - 1 for m in _HINT_RE2.finditer(block.lower())}


def _classify_raw(raw: bytes) -> _Class | None:
    head = raw[:_REP_CHARS * 4]
    if not _HINT.search(head.lower()) and not _klog_severe(head):
        return None
    if _is_binary(head):
        return None
    return _classify(_decode(head, _REP_CHARS)[0])


def _template(raw: bytes, redact: bool) -> str:
    if _is_binary(raw):
        return f"<binary data, {len(raw)} bytes or more>"
    text = _decode(raw, _REP_CHARS)[0]
    # Redact before masking numbers: `glpat-Ab12...` cut by `<*>` would no longer look like a token.
    return _MASK_TEMPLATE.sub("<*>", redact_text(text) if redact else text)


def _key(raw: bytes) -> bytes:
    return raw.translate(None, _DELETE)[:_KEY_BYTES]


def _mask_pem_lines(state: _State, raws: list[bytes]) -> None:
    """Replace the body lines of PEM private keys: line by line, no later redaction could see them as keys."""
    for i, raw in enumerate(raws):
        if state.in_pem:
            if b"-----END " in raw:
                state.in_pem = False
            else:
                raws[i] = b"****"
        elif b"PRIVATE KEY" in raw and b"-----BEGIN " in raw and b"-----END " not in raw:
            state.in_pem = True


def _ingest(state: _State, block: bytes) -> None:
    if state.in_pem or b"PRIVATE KEY" in block:
        raws = block[:-1].split(b"\n")
        _mask_pem_lines(state, raws)
        block = b"\n".join(raws) + b"\n"
    raws = block[:-1].split(b"\n")
    keys = block[:-1].translate(None, _DELETE).split(b"\n")
    if max(map(len, keys)) > _KEY_BYTES:
        keys = [k[:_KEY_BYTES] for k in keys]
    base = state.total_lines
    if len(state.first) < 5:
        state.first.extend(_decode(r, state.max_line_chars)[0] for r in raws[: 5 - len(state.first)])
    state.counts.update(keys)
    classes, reps = state.classes, state.reps
    misses = {key: i for i, key in enumerate(keys) if key not in classes}  # never-seen keys, one line each
    # Many never-seen keys (a log of distinct lines): find the gate's words in the whole batch at once.
    hinted = _hinted_lines(block, raws) if len(misses) > _BATCH_GATE_MIN else None
    for key, i in misses.items():
        raw = raws[i]
        reps.setdefault(key, raw[: _REP_CHARS * 4])
        gated = hinted is not None and i not in hinted and not _klog_severe(raw)
        classes[key] = None if gated else _classify_raw(raw)
    for i, key in enumerate(keys):
        cls = classes[key]
        if cls is not None:
            state.triggers.append((base + i, cls))
    if max(map(len, raws)) > state.max_line_chars:
        state.truncated += sum(1 for r in raws if len(r) > state.max_line_chars and _decode(r, state.max_line_chars)[1])
    state.buffer.extend(raws)
    state.total_lines += len(raws)
    if len(state.counts) > _MAX_KEYS:
        _prune(state)


def _prune(state: _State) -> None:
    keep = dict(state.counts.most_common(_KEEP_KEYS))
    state.counts = Counter(keep)
    state.reps = {k: v for k, v in state.reps.items() if k in keep}
    if len(state.classes) > _MAX_KEYS * 5:
        state.classes = {k: v for k, v in state.classes.items() if k in keep}


def _record(state: _State, index: int, kind: str, base: float, line: str, context: list[str]) -> DecisiveBlock:
    key = _key(line.encode("utf-8", errors="replace")) + kind.encode()
    block = state.blocks.get(key)
    if block is not None:
        block.count += 1
        block.last_line_no = index + 1
        return block
    block = DecisiveBlock(line=line, context=context, count=1, kind=kind, score=base,
                          line_no=index + 1, last_line_no=index + 1)
    if len(state.blocks) < _MAX_BLOCKS or kind not in ("error", "listen"):
        state.blocks[key] = block
    return block


def _around(state: _State, index: int, before: int, after: int) -> list[str]:
    lines = [state.text(j) for j in range(index - before, index) if state.has(j)]
    lines += [state.text(j) for j in range(index + 1, index + 1 + after) if state.has(j)]
    return [t for t in lines if t.strip()]


def _scan_frames(state: _State, start: int) -> int:
    """Index of the first line at or after `start` that is not part of a stack trace."""
    j = start
    while state.has(j) and j - start < _LOOKAHEAD and _FRAME.match(state.text(j, 80)):
        j += 1
    return j


def _python_traceback(state: _State, i: int, base: float) -> None:
    end = _scan_frames(state, i + 1)
    if not state.has(end):
        return
    exc = state.text(end)
    kind = "config" if _CONFIG.search(exc) else "exception"
    frames = [state.text(j) for j in range(max(i + 1, end - 4), end)]
    chained = any(state.has(j) and _PY_CHAIN.match(state.text(j, 120)) for j in range(i - 3, i))
    state.skip_until = end + 1
    if chained and state.last_tb is not None and i - state.last_tb[1] <= 4:
        root = state.last_tb[0]  # Python prints the root cause first; keep it as the decisive line
        final = f"→ finally: {exc}"
        if root.count == 1 and final not in root.context:
            root.context.append(final)
        state.last_tb = (root, end)
        return
    block = _record(state, end, kind, _BASE_SCORE[kind], exc, [state.text(i), *frames])
    state.last_tb = (block, end)


def _stack(state: _State, i: int) -> None:
    end = _scan_frames(state, i + 1)
    top = state.text(i)
    root_index = i
    for j in range(i + 1, end):
        if _CAUSED_BY.match(state.text(j, 40)):  # the deepest cause is the root
            root_index = j
    root = state.text(root_index)
    if end == i + 1:  # a lone exception line: plain context
        kind = "config" if _CONFIG.search(root) else "oom" if _OOM.search(root) else "exception"
        _record(state, i, kind, _BASE_SCORE[kind], root, _around(state, i, 2, 2))
        return
    context = _around(state, i, 1, 0)
    if root_index != i:
        context.append(top)
    context += [state.text(j) for j in range(root_index + 1, min(end, root_index + 3))]
    kind = "config" if _CONFIG.search(root) else "oom" if _OOM.search(root) else "exception"
    state.skip_until = end
    _record(state, root_index, kind, _BASE_SCORE[kind], root, context)


def _panic(state: _State, i: int) -> None:
    context: list[str] = []
    j = i + 1
    while state.has(j) and j - i <= 12:
        text = state.text(j)
        context.append(text)
        j += 1
        if _GOROUTINE.match(text):
            context += [state.text(k) for k in range(j, j + 2) if state.has(k)]
            j += 2
            break
    state.skip_until = j
    _record(state, i, "panic", _BASE_SCORE["panic"], state.text(i), [t for t in context if t.strip()][:8])


def _record_triggers(state: _State, final: bool) -> None:
    """Turn the trigger lines read so far into decisive blocks; a trigger closer to the end of the
    buffer than the lookahead waits for its context unless the stream is `final`."""
    limit = state.total_lines if final else state.total_lines - _LOOKAHEAD
    pending: list[tuple[int, _Class]] = []
    for index, cls in state.triggers:
        if index >= limit:
            pending.append((index, cls))
            continue
        if index < state.skip_until:
            continue
        if cls.kind == "py_tb":
            _python_traceback(state, index, cls.base)
        elif cls.kind == "stack":
            _stack(state, index)
        elif cls.kind == "panic_go":
            _panic(state, index)
        else:
            key = _key(state.buffer[index - state.buffer_start]) + cls.kind.encode()
            known = state.blocks.get(key)
            if known is not None:  # a repeated line: count it without decoding its context again
                known.count += 1
                known.last_line_no = index + 1
            elif len(state.blocks) < _MAX_BLOCKS or cls.kind not in ("error", "listen"):
                state.blocks[key] = DecisiveBlock(
                    line=state.text(index, state.max_line_chars), context=_around(state, index, 2, 2),
                    count=1, kind=cls.kind, score=cls.base, line_no=index + 1, last_line_no=index + 1)
    state.triggers = pending
    keep_from = max(state.buffer_start, min(limit, state.total_lines) - _BEFORE)
    del state.buffer[: keep_from - state.buffer_start]
    state.buffer_start = keep_from


def _score(block: DecisiveBlock, total_lines: int) -> float:
    position = block.last_line_no / max(total_lines, 1)
    near_end = 10.0 if total_lines - block.last_line_no < 30 else 0.0
    repeated = min(5.0, 2.0 * math.log10(block.count)) if block.count > 1 else 0.0
    return round(block.score + 15.0 * position + near_end + repeated, 2)


def digest_log(
    text: str | bytes | Iterable[bytes],
    *,
    source: str,
    max_line_chars: int = 2000,
    max_decisive: int = 20,
    max_templates: int = 30,
    redact: bool = False,
) -> LogDigest:
    """Digest one container log. `text` may also be an iterable of byte chunks (streamed, never joined).

    With `redact=True` every returned string goes through `redact_text` (the caller otherwise redacts
    the final context).
    """
    state = _State(max_line_chars=max_line_chars)
    total_bytes = 0
    for block, consumed in _batches(_chunks(text), max_line_chars * 4):
        total_bytes += consumed
        if block:
            _ingest(state, block)
            if len(state.buffer) > 2 * _LOOKAHEAD + _BEFORE:
                _record_triggers(state, final=False)
    last = [_decode(r, max_line_chars)[0] for r in state.buffer[-10:]]
    _record_triggers(state, final=True)

    for found in state.blocks.values():
        found.score = _score(found, state.total_lines)
    decisive = sorted(state.blocks.values(), key=lambda b: (-b.score, b.line_no))[:max_decisive]
    templates = [
        (_template(state.reps.get(key, b""), redact), count)
        for key, count in state.counts.most_common(max_templates)
    ]
    digest = LogDigest(
        source=source,
        total_lines=state.total_lines,
        total_bytes=total_bytes,
        first_lines=state.first[:5],
        last_lines=last,
        decisive=decisive,
        templates=templates,
        truncated_lines=state.truncated,
    )
    return _redacted(digest) if redact else digest


def _redacted(digest: LogDigest) -> LogDigest:
    return LogDigest(
        source=digest.source,
        total_lines=digest.total_lines,
        total_bytes=digest.total_bytes,
        first_lines=[redact_text(t) for t in digest.first_lines],
        last_lines=[redact_text(t) for t in digest.last_lines],
        decisive=[
            DecisiveBlock(line=redact_text(b.line), context=[redact_text(t) for t in b.context], count=b.count,
                          kind=b.kind, score=b.score, line_no=b.line_no, last_line_no=b.last_line_no)
            for b in digest.decisive
        ],
        templates=[(redact_text(t), n) for t, n in digest.templates],
        truncated_lines=digest.truncated_lines,
    )
