"""Layer 4 of redaction: known secret values, in every encoding a log may print them, in one pass.

An app that prints its own password has no key around it; the only way to catch that is to know the
value. The analyzer knows the pod spec's values (env values, arguments after credential flags,
probe query values) and the secrets the other layers found; each is looked for raw, base64
(standard and URL-safe, unpadded), URL-encoded and JSON-escaped.

All values go into ONE Aho-Corasick automaton (pyahocorasick, C), so the cost is linear in the size
of the log whatever the number of values: 2,000 values over 10 MB took 61 s as a regex alternation
run value by value; see docs/redaction.md for the figure now.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import ahocorasick

__all__ = ["MIN_LITERAL", "Literals", "encodings"]

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

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = frozenset(v for v in values if len(v) >= MIN_LITERAL)
        forms: set[str] = set()
        for v in self.values:
            forms |= encodings(v)
        self._automaton: ahocorasick.Automaton | None = None
        if forms:
            automaton = ahocorasick.Automaton()
            for form in forms:
                automaton.add_word(form, len(form))
            automaton.make_automaton()
            self._automaton = automaton

    def __bool__(self) -> bool:
        return self._automaton is not None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Merged [start, end) spans of every occurrence of any form in `text`."""
        if self._automaton is None:
            return []
        found = sorted((end - length + 1, end + 1) for end, length in self._automaton.iter(text))
        spans: list[tuple[int, int]] = []
        for start, stop in found:
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(stop, spans[-1][1]))
            else:
                spans.append((start, stop))
        return spans

    def mask(self, text: str, mask: str) -> str:
        spans = self.spans(text)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for start, stop in spans:
            out += [text[pos:start], mask]
            pos = stop
        out.append(text[pos:])
        return "".join(out)

    def union(self, more: Iterable[str]) -> Literals:
        extra = {v for v in more if len(v) >= MIN_LITERAL} - self.values
        return self if not extra else Literals(self.values | extra)
