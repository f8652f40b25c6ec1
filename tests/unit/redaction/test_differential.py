"""Differential test: detect-secrets is the oracle; whatever it flags in a generated log line, Fyr masks.

Lines are generated from secrets of every class (vendor tokens of every shape in the table, passwords
of several kinds, random base64/hex keys) in every syntax Fyr claims to cover (k=v, k: v, JSON,
nested and escaped JSON, YAML, properties, XML, headers, query strings, CLI flags, URLs, env files),
under keys in every case style. detect-secrets runs with all its plugins and several file names
(its keyword plugin reads the syntax of the file type). A flagged value counts as leaked if the
token that carries it is still in Fyr's output.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

from fyr.core.redaction import redact_text
from tests.unit.redaction.samples import SAMPLES

pytestmark = pytest.mark.timeout(120)

_PLUGINS = [cls() for cls in get_mapping_from_secret_type_to_class().values()]
_FILES = ("app.log", "config.yaml", "settings.py", "config.json", ".env", "App.java")

VALUES = [
    "Tr0ub4dor&3x", "s3cr3tDbPw", "correct-horse-battery-9", "hunter2hunter2",
    "b64Q29ycmVjdEhvcnNlQmF0dGVyeVN0YXBsZQ9x", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    "xK9#mP2$vL7!qR4w", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
]
KEYS = ["password", "dbPassword", "db_password", "db-password", "DB_PASSWORD", "accessToken", "access_token",
        "apiKey", "api_key", "x-api-key", "client_secret", "secret", "token", "auth_token", "bindPassword",
        "adminPassword", "refreshToken", "SECRET_KEY", "passwd", "pwd", "mysqlPwd", "aws_secret_access_key"]
SYNTAXES = [
    "{k}={v}", "{k} = {v}", "{k}: {v}", "  {k}: {v}", '"{k}": "{v}"', '{{"{k}":"{v}"}}', "{k}='{v}'",
    '{{"cfg":{{"db":{{"{k}":"{v}"}}}}}}', '{{"msg":"loaded {{\\"{k}\\":\\"{v}\\"}}"}}', "export {k}={v}",
    "app.datasource.{k}={v}", "<{k}>{v}</{k}>", "{k}: '{v}'", "GET /cb?user=x&{k}={v}&next=/", "--{k}={v}",
    "--{k} {v}", "level=info msg=connect {k}={v} host=db", "{k} => '{v}'", "{k}:\t{v}",
]


def lines() -> Iterator[str]:
    for key in KEYS:
        for i, syntax in enumerate(SYNTAXES):
            yield syntax.format(k=key, v=VALUES[(i + len(key)) % len(VALUES)])
    for _, line, _ in SAMPLES:
        yield line
    for _, _line, secret in SAMPLES:  # the vendor tokens themselves in every syntax too
        if len(secret) >= 20 and secret.isascii() and " " not in secret:
            for syntax in ("token={v}", '"key": "{v}"', "X-Api-Key: {v}", "using {v} now", "url=https://x/?t={v}"):
                yield syntax.format(k="", v=secret)


def flagged(line: str) -> set[str]:
    out: set[str] = set()
    for plugin in _PLUGINS:
        for name in _FILES:
            for found in plugin.analyze_line(filename=name, line=line, line_number=1):
                if found.secret_value:
                    out.add(found.secret_value)
    return out


def _carrier(line: str, value: str) -> str:
    """The token of `line` that carries `value` (a plugin may report only part of a token, e.g. `glpat`)."""
    start = line.find(value)
    left = start
    while left > 0 and not re.match(r"[\s\"'=:,;<>{}()\[\]]", line[left - 1]):
        left -= 1
    right = start + len(value)
    while right < len(line) and not re.match(r"[\s\"'=:,;<>{}()\[\]&]", line[right]):
        right += 1
    return line[left:right]


def test_whatever_detect_secrets_flags_fyr_masks() -> None:
    generated = list(dict.fromkeys(lines()))
    checked = 0
    leaks = []
    for line in generated:
        out = redact_text(line)
        for value in flagged(line):
            if value not in line:
                continue
            checked += 1
            carrier = _carrier(line, value)
            if carrier in out:
                leaks.append((line, value, out))
    assert len(generated) > 450 and checked > 250, (len(generated), checked)
    assert leaks == []


@pytest.mark.parametrize("key", KEYS)
def test_every_generated_syntax_masks_the_value_even_where_the_oracle_is_silent(key: str) -> None:
    for i, syntax in enumerate(SYNTAXES):
        value = VALUES[(i + len(key)) % len(VALUES)]
        line = syntax.format(k=key, v=value)
        assert value not in redact_text(line), line
