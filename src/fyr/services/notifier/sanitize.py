"""What untrusted text may not carry into a Slack message: fences, invisible controls, foreign links.

Three attacks through fields anyone who can edit a Deployment, push a commit or write a log line
controls (summary, root cause, fix, evidence, commit titles, annotations):

- A ``` in a field opens a code fence that the rest of the message falls into (or closes Fyr's own
  fence early). Runs of three or more backticks are neutralised (each backtick becomes U+02CB,
  which looks the same and never fences); inside inline code every backtick is, since one ends it.
- Unicode format characters (general category Cf) are invisible: right-to-left overrides reorder
  what the reader sees (an image tag `1.0‮0.2` shows as `1.02.0`), zero-width spaces split
  `@channel`-like words and hide differences. All of category Cf is removed — the Unicode
  Character Database's own classification, checked against `unicodedata` by the tests.
- A link's host decides where the click goes: `https://gitlab.acme.io@evil.example/…` shows the
  GitLab host but goes to evil.example (RFC 3986 userinfo). A link is kept only when its scheme is
  http(s), it carries no userinfo, and its host is one of the configured GitLab hosts; anything
  else is shown as its label only (a bare URL in text would be linked by Slack itself).

Pure functions; render.py applies them to every field.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import urlsplit

SAFE_BACKTICK = "\u02cb"  # MODIFIER LETTER GRAVE ACCENT: looks like ` but is no mrkdwn syntax

# Every code point of general category Cf in Unicode 15.1 (a superset of the 14.0 that Python 3.11
# ships; the tests check it against `unicodedata`), as ranges:
# bidi embeddings/overrides/isolates and marks, zero-width space/joiners, word joiner, BOM, soft
# hyphen, invisible math operators, interlinear annotations, tag characters.
_FORMAT_CHARS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
_FENCE = re.compile(r"`{3,}")


def strip_invisible(text: str) -> str:
    """Remove every Unicode format character (bidi controls, zero-width characters, ...)."""
    return _FORMAT_CHARS.sub("", text)


def neutralise_fences(text: str) -> str:
    """No run of three backticks survives: it can neither open nor close a code block."""
    return _FENCE.sub(lambda m: SAFE_BACKTICK * len(m.group(0)), text)


def inline_code_safe(text: str) -> str:
    """Text to put between single backticks: no backtick inside can end the span."""
    return text.replace("`", SAFE_BACKTICK)


def sanitise(text: str) -> str:
    """Untrusted text for mrkdwn: invisible controls removed, code fences neutralised."""
    return neutralise_fences(strip_invisible(text))


def link_host_allowed(url: str, hosts: Collection[str] | None) -> bool:
    """http(s), no userinfo, no backslash, and (when `hosts` is given) a host in `hosts`.

    `hosts` None means "no host policy" (offline rendering); an empty collection allows no link.
    """
    if "\\" in url:
        return False  # browsers read `\` as `/`: https://good\\@evil would go to evil
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return False
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return False
    if hosts is None:
        return True
    return hostname.rstrip(".").lower() in {h.strip().rstrip(".").lower() for h in hosts}


__all__ = ["SAFE_BACKTICK", "inline_code_safe", "link_host_allowed", "neutralise_fences", "sanitise",
           "strip_invisible"]
