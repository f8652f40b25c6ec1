"""Secret redaction: nothing secret leaves the process (logs, events and pod specs of a rollout).

Four layers, each usable and tested alone (see docs/redaction.md): token shapes (shapes.py),
credential context in any syntax and random values after a credential word (keys.py, rules.py),
known values in every encoding (literals.py); the engine (engine.py) normalises first and runs them
in passes linear in the text; check.py is the last, fail-closed check on what leaves. It lives in
the shared layer because the analyzer, the notifier and Fyr's own log processor all need it.
"""

from fyr.core.redaction.check import SecretLeak, check_clean, leaks
from fyr.core.redaction.engine import ANSI_ESCAPE, Redactor, find_secrets, normalise, redact_text
from fyr.core.redaction.literals import Literals, encodings
from fyr.core.redaction.rules import MASK

__all__ = ["ANSI_ESCAPE", "MASK", "Literals", "Redactor", "SecretLeak", "check_clean", "encodings", "find_secrets",
           "leaks", "normalise", "redact_text"]
