"""The last check on whatever leaves the process: not a second redaction, a refusal.

Redaction happens once, at the analyzer's entry. What is stored, posted to Slack, sent to a model or
printed is then *checked*: no known secret value (those masked at the entry, the pod spec's values)
and no credential with an unmistakable shape (vendor tokens, URL passwords, PEM private keys) may be
in it. A hit is a bug in the layers above, and the caller fails closed (stores the rules' analysis
instead of the model's, refuses to post, exits non-zero) rather than mask again: masking again
would also mask Fyr's own prose ("Secret: not found" -> "Secret: **** found"), which the check
cannot do because it knows no key words at all.

The error names what was found and where, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fyr.core.redaction.engine import normalise
from fyr.core.redaction.keys import is_placeholder
from fyr.core.redaction.literals import Literals
from fyr.core.redaction.rules import MASK
from fyr.core.redaction.shapes import shapes_pattern
from fyr.errors import PermanentError

__all__ = ["SecretLeak", "check_clean", "leaks"]

_SHAPES = shapes_pattern()
_URL_PASSWORD = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{0,30}://[^\s:/?#@\"'<>\\]{0,256}:(?P<value>[^\s@/\"'<>\\]{1,512})@"
                           r"(?=[^\s@/])")
_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----(?:\\n|\s)*[A-Za-z0-9+/]{16}")


class SecretLeak(PermanentError):
    """A secret survived redaction into something about to leave the process."""


def leaks(text: str, literals: Literals | None = None) -> list[str]:
    """What kinds of secret `text` still holds (vendor names, `url_password`, `private_key`, `known_value`)."""
    text = normalise(text)
    found = [(m.lastgroup or "v?")[1:] for m in _SHAPES.finditer(text)]
    from fyr.core.redaction.shapes import SHAPES

    kinds = [SHAPES[int(i)].vendor for i in found if i.isdigit()]
    for m in _URL_PASSWORD.finditer(text):
        if MASK not in m.group("value") and not is_placeholder(m.group("value")):
            kinds.append("url_password")
    if _PEM.search(text):
        kinds.append("private_key")
    if literals is not None and literals.found_in(text):
        kinds.append("known_value")
    return kinds


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(str(k), f"{path}.<key>")
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def check_clean(value: Any, *, where: str, literals: Literals | None = None) -> None:
    """Raise SecretLeak if any string in `value` (nested dicts/lists) still holds a secret."""
    for path, text in _strings(value, where):
        kinds = leaks(text, literals)
        if kinds:
            raise SecretLeak(f"secret check failed: {', '.join(sorted(set(kinds)))} in {path}")
