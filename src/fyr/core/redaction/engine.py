"""The redaction engine: normalise, then every layer, in passes linear in the size of the text.

Order matters:
1. normalise — ANSI colour codes (real and printed as `\\x1b[0m`/`\\u001b[0m`) and control characters
   are removed and `\\u003d`-style escapes of punctuation decoded *before* any rule is matched (per
   line, on the lines that need it, inside the line pass of step 4), so
   `password\\x1b[0m=hunter2` is seen as `password=hunter2`. Redacting first and stripping later (as
   a digest does) would join a secret back together after the mask missed it.
2. PEM private key blocks (found with str.find: a lazy `BEGIN.*?END` is quadratic on hostile input).
3. multi-line forms: YAML block scalars under a credential key (`password: |`), and the lines of a
   base64 private key body printed without its PEM armour.
4. line rules (rules.py): one RE2 pass over the whole text finds the candidate lines (RE2 runs in
   linear time at hundreds of MB/s; Python's re would manage a few), and only the rules whose
   condition holds run on each; lines with no candidate are never copied.
5. literals (literals.py): known secret values in every encoding, one Aho-Corasick pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import re2  # type: ignore[import-untyped]

from fyr.core.redaction.keys import is_credential_key
from fyr.core.redaction.literals import Literals
from fyr.core.redaction.rules import LINE_RULES, MASK, Rule

__all__ = ["ANSI_ESCAPE", "Redactor", "find_secrets", "normalise", "redact_text"]

# --- 1. normalise ----------------------------------------------------------------------------------
# ANSI escape sequences: CSI (7-bit and the 8-bit \x9b), OSC up to BEL/ST on one line, two-character escapes.
# The one definition: the analyzer's log digests and the notifier's text strip with it too.
ANSI_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
_ESCAPED_ANSI = re.compile(r"(?:\\u001[bB]|\\x1[bB]|\\033|\\e|\^\[)\[[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ESCAPED_PUNCT = re.compile(r"\\u00(?:3[dDcCeE]|2[62]|27)")
_PUNCT = {"3d": "=", "3c": "<", "3e": ">", "26": "&", "22": '"', "27": "'"}


def normalise(text: str) -> str:
    """`text` without ANSI sequences and control characters (tabs and newlines kept), `\\u003d` decoded."""
    if "\x1b" in text or "\x9b" in text:
        text = ANSI_ESCAPE.sub("", text)
    if "\\" in text:
        if _ESCAPED_ANSI.search(text):
            text = _ESCAPED_ANSI.sub("", text)
        if "\\u00" in text:
            text = _ESCAPED_PUNCT.sub(lambda m: _PUNCT[m.group(0)[-2:].lower()], text)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text


# --- 2. PEM blocks -----------------------------------------------------------------------------------
_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?)-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s\\]{0,100000}")


def _redact_pem(text: str, found: list[str] | None) -> str:
    if "-----BEGIN " not in text:
        return text
    out: list[str] = []
    pos = 0
    missing_end: set[str] = set()  # labels whose END is known to be absent after the current position
    for m in _PEM_BEGIN.finditer(text):
        if m.start() < pos:
            continue
        label = m.group(1)
        end_marker = f"-----END {label}-----"
        end = -1 if label in missing_end else text.find(end_marker, m.end())
        if end == -1:
            missing_end.add(label)
            stop = _PEM_BODY.match(text, m.end()).end()  # type: ignore[union-attr]  # always matches
        else:
            stop = end + len(end_marker)
        out.append(text[pos : m.start()])
        # every body line becomes one mask: the log keeps its line count (digests number lines)
        body = text[m.end() : end if end != -1 else stop]
        lines = re.sub(r"[^\n]+", MASK, body) if "\n" in body.strip("\n") or body.startswith("\n") else MASK
        out.append(f"-----BEGIN {label}-----{lines}" + (f"-----END {label}-----" if end != -1 else ""))
        if found is not None:
            found.append(text[m.start() : stop])
        pos = stop
    out.append(text[pos:])
    return "".join(out)


# --- 3. multi-line forms -----------------------------------------------------------------------------
_BLOCK_TRIGGER = re2.compile(
    rb"(?m)(?:[:=][ \t]*[|>][-+0-9]*[ \t]*\r?$|IBAAKC|IBADANBgkqhkiG9w0BAQEFAAS|MHcCAQEE|b3BlbnNzaC1rZXktdjE)")
_BLOCK_KEY = re.compile(r"^(?P<indent>[ \t]*)(?:-[ \t]+)?[\"']?(?P<key>[^\s:=\"']+)[\"']?[ \t]*[:=][ \t]*[|>][-+0-9]*"
                        r"[ \t]*\r?$")
_BASE64_LINE = re.compile(r"^[ \t]*[A-Za-z0-9+/]{4,}={0,2}[ \t]*\r?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _redact_blocks(text: str, found: list[str] | None) -> str:
    data = text.encode("utf-8", errors="surrogatepass")
    hits = [m.start() for m in _BLOCK_TRIGGER.finditer(data)]
    if not hits:
        return text
    lines = text.split("\n")
    starts: set[int] = set()
    prev = line_no = 0
    for h in hits:
        line_no += data.count(b"\n", prev, h)
        prev = h
        starts.add(line_no)
    changed = False
    for i in sorted(starts):
        line = lines[i]
        m = _BLOCK_KEY.match(line)
        if m is not None:
            if not is_credential_key(m.group("key")):
                continue
            depth = _indent(line)
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > depth):
                if lines[j].strip() and MASK not in lines[j]:
                    if found is not None:
                        found.append(lines[j].strip())
                    lines[j] = lines[j][: _indent(lines[j])] + MASK
                    changed = True
                j += 1
            continue
        # a private key body: the following lines of pure base64 belong to it (the first is a shape)
        j = i + 1
        while j < len(lines) and _BASE64_LINE.match(lines[j]):
            if found is not None:
                found.append(lines[j].strip())
            lines[j] = lines[j][: _indent(lines[j])] + MASK
            changed = True
            j += 1
    return "\n".join(lines) if changed else text


# --- 4. line rules -----------------------------------------------------------------------------------
# A line needs normalising iff it holds one of these (normalise() is the identity on any other line, and
# line-local: no sequence it removes spans a newline), so it is done here, per candidate line, instead of
# in a separate pass over the whole text.
_NEEDS_NORMALISING = (rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2\x9b|\\(?:u001[bB]|x1[bB]|033|e)\[|\^\[\["
                      rb"|\\u00(?:3[dDcCeE]|2[62]|27)")
_NORMALISE = re2.compile(_NEEDS_NORMALISING)
_PREFILTER = re2.compile(b"|".join(b"(?:" + c + b")" for c in (*(r.condition for r in LINE_RULES), _NEEDS_NORMALISING)))
_PER_RULE: tuple[tuple[re2._Regexp, Rule], ...] = tuple((re2.compile(r.condition), r) for r in LINE_RULES)
_CHUNK_CHARS = 1 << 20


def _apply_rules(line: str, found: list[str] | None, rules: Iterable[Rule]) -> str:
    for rule in rules:
        line = rule.apply(line, found)
    return line


def _apply_prefiltered(text: str, found: list[str] | None) -> str:
    """`text` with the rules run on the lines the prefilter hits; `text` itself when there is none."""
    data = text.encode("utf-8", errors="surrogatepass")
    out: list[bytes] = []
    pos = 0
    for m in _PREFILTER.finditer(data):
        at = m.start() + 1 if data[m.start() : m.start() + 1] == b"\n" else m.start()  # `(?:^|\s)--flag`
        if at < pos:
            continue  # another hit on a line already done
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        end = len(data) if end == -1 else end
        raw = data[start:end]
        line = raw.decode("utf-8", errors="surrogatepass")
        if _NORMALISE.search(raw):
            line = normalise(line)
            raw = line.encode("utf-8", errors="surrogatepass")
        # A rule is skipped only while its condition is absent from the line as it stands *then*: an
        # earlier rule's mask can make a later one apply (exactly as running every rule in turn).
        for condition, rule in _PER_RULE:
            if condition.search(raw):
                changed = rule.apply(line, found)
                if changed is not line and changed != line:
                    line = changed
                    raw = line.encode("utf-8", errors="surrogatepass")
        out += [data[pos:start], line.encode("utf-8", errors="surrogatepass")]
        pos = end
    if not out:
        return text
    out.append(data[pos:])
    return b"".join(out).decode("utf-8", errors="surrogatepass")


def _apply_lines(text: str, found: list[str] | None) -> list[str]:
    """The text in ~1 MiB pieces cut at newlines, each redacted; `[text]` itself when nothing changed."""
    parts: list[str] = []
    changed = False
    pos = 0
    while pos < len(text):  # bounded copies; nothing copied when clean
        end = text.find("\n", pos + _CHUNK_CHARS)
        end = len(text) if end == -1 else end + 1
        chunk = text[pos:end] if pos or end < len(text) else text
        redacted = _apply_prefiltered(chunk, found)
        changed = changed or redacted is not chunk
        parts.append(redacted)
        pos = end
    return parts if changed else [text]


class Redactor:
    """Every layer over a text; `literals` are known secret values (layer 4) masked wherever they occur."""

    def __init__(self, literals: Literals | None = None) -> None:
        self.literals = literals if literals is not None else Literals()

    def redact(self, text: str, found: list[str] | None = None) -> str:
        pieces = self.redact_pieces(text, found)
        return pieces[0] if len(pieces) == 1 else "".join(pieces)

    def redact_pieces(self, text: str, found: list[str] | None = None) -> list[str]:
        """`redact` as ~1 MiB pieces (cut at newlines), so that a caller running another pass over
        them (the literals of the secrets found here) copies a large log once, not three times."""
        text = _redact_pem(text, found)
        text = _redact_blocks(text, found)
        pieces = _apply_lines(text, found)  # normalises the lines that need it
        if self.literals:
            pieces = [self.literals.mask(p, MASK) for p in pieces]
        return pieces


_PLAIN = Redactor()


def redact_text(text: str) -> str:
    """`text` normalised, with every secret the shape, context and entropy layers recognise masked."""
    return _PLAIN.redact(text)


def find_secrets(text: str) -> list[str]:
    """The raw secret substrings that `redact_text` masks in `text` (after normalising)."""
    found: list[str] = []
    _PLAIN.redact(text, found)
    return found


def redact_unfiltered(text: str) -> str:
    """The reference path: every rule on every line, no prefilter (tests compare `redact_text` with it)."""
    text = _redact_blocks(_redact_pem(normalise(text), None), None)
    return "\n".join(_apply_rules(line, None, LINE_RULES) for line in text.split("\n"))
