"""Layer 4 of redaction: known secret values, in every encoding a log may print them, in one pass.

An app that prints its own password has no key around it; the only way to catch that is to know the
value. The analyzer knows the pod spec's values (env values, arguments after credential flags,
probe query values) and the secrets the other layers found; each is looked for raw, base64
(standard and URL-safe, unpadded), URL-encoded and JSON-escaped.

All values go into ONE Aho-Corasick automaton (ahocorasick-rs: Rust's aho-corasick crate, leftmost-
longest, over UTF-8 bytes), so the cost is linear in the size of the log whatever the number of
values: 2,000 values over 10 MB took 61 s as a Python regex alternation; see docs/redaction.md for the
figure now. (pyahocorasick was measured too: its unicode automaton scanned at a quarter of the speed.)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import ahocorasick_rs

__all__ = ["MIN_LITERAL", "Literals", "encodings"]

_CHUNK_CHARS = 1 << 20
MIN_LITERAL = 6  # shorter values would mask ordinary words and numbers all over the logs


def encodings(value: str) -> set[str]:
    """`value` as a log may print it: raw, base64 (std/url-safe, unpadded), URL-encoded, JSON-escaped."""
    raw = value.encode("utf-8", errors="surrogatepass")
    out = {value, quote(value, safe=""), quote_plus(value, safe=""), json.dumps(value, ensure_ascii=False)[1:-1],
           json.dumps(value)[1:-1]}
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode("ascii")
        out.add(text.rstrip("="))
    return {v for v in out if len(v) >= MIN_LITERAL}


class Literals:
    """An immutable set of secret values and their encodings, searchable in one linear pass."""

    def __init__(self, values: Iterable[str] = (), *, raw_only: Iterable[str] = ()) -> None:
        """`values` are looked for in every encoding, `raw_only` as they are (secrets found in the logs
        themselves: they are printed, not encoded, and may be thousands of distinct tokens)."""
        self.values = frozenset(v for v in values if len(v) >= MIN_LITERAL)
        self.raw_only = frozenset(v for v in raw_only if len(v) >= MIN_LITERAL) - self.values
        forms: set[str] = set(self.raw_only)
        for v in self.values:
            forms |= encodings(v)
        self._automaton: ahocorasick_rs.BytesAhoCorasick | None = None
        if forms:
            self._automaton = ahocorasick_rs.BytesAhoCorasick(
                [f.encode("utf-8", errors="surrogatepass") for f in sorted(forms)],
                matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)

    def __bool__(self) -> bool:
        return self._automaton is not None

    def _byte_spans(self, data: bytes) -> list[tuple[int, int]]:
        assert self._automaton is not None
        spans: list[tuple[int, int]] = []
        for _, start, stop in self._automaton.find_matches_as_indexes(data):
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(stop, spans[-1][1]))
            else:
                spans.append((start, stop))
        return spans

    def found_in(self, text: str) -> bool:
        return self._automaton is not None and bool(self._byte_spans(text.encode("utf-8", errors="surrogatepass")))

    def mask(self, text: str, mask: str) -> str:
        """`text` with every occurrence of any form replaced by `mask`; `text` itself when there is none.

        Works in ~1 MiB pieces cut at newlines (no form holds a newline), so a large clean log is
        never copied whole and a large dirty one at most once."""
        if self._automaton is None:
            return text
        parts: list[str] = []
        changed = False
        pos = 0
        while pos < len(text):
            end = text.find("\n", pos + _CHUNK_CHARS)
            end = len(text) if end == -1 else end + 1
            chunk = text[pos:end] if pos or end < len(text) else text
            masked = self._mask_chunk(chunk, mask)
            changed = changed or masked is not chunk
            parts.append(masked)
            pos = end
        return "".join(parts) if changed else text

    def _mask_chunk(self, text: str, mask: str) -> str:
        data = text.encode("utf-8", errors="surrogatepass")
        spans = self._byte_spans(data)
        if not spans:
            return text
        out: list[bytes] = []
        pos = 0
        token = mask.encode()
        for start, stop in spans:
            out += [data[pos:start], token]
            pos = stop
        out.append(data[pos:])
        return b"".join(out).decode("utf-8", errors="surrogatepass")
