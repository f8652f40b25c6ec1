"""Layers 2 and 3 of redaction, the judgements: is this key a credential, is this value random, is it evidence.

A list of key names always misses the next one (`dbPassword`, `bindPassword`, `x-auth-token`,
`_authToken`), so a key is split into its words whatever its case style (camelCase, snake_case,
kebab-case, dotted, compound lowercase) and judged by them: a credential word anywhere
(`password`, `token`, `secret`, `auth`, `cookie`, `signature`, `dsn`, ...) makes it a credential key,
unless its last word says it holds something else about the credential (`token_count`,
`password_file`, `secret_name`, `auth_url`). `key` alone is too common (`cache_key`) and counts only
with a qualifier (`api`, `access`, `private`, `app`...) or in a URL query (`?key=`).

High-entropy values are masked only in a credential context or after a credential word; evidence a
reader needs (image digests, git SHAs, pod hashes, UUIDs, IP addresses, paths, stack frames,
versions, timestamps) is never masked by that judgement: `is_evidence` is the allow-list.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

__all__ = ["entropy", "is_credential_key", "is_evidence", "is_placeholder", "looks_random", "split_words"]

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

CREDENTIAL_WORDS = frozenset({
    "password", "passwd", "passphrase", "passcode", "pwd", "pw", "pass", "secret", "secrets", "token",
    "apikey", "credential", "credentials", "creds", "cred", "cookie", "cookies", "signature", "sig", "dsn",
    "auth", "authorization", "authtoken", "sessionid", "sessid", "jsessionid", "phpsessid", "session",
    "privatekey", "accesskey", "secretkey", "appkey", "masterkey", "passkey", "sas", "otp", "totp",
    "bearer", "jwt", "csrftoken", "xsrf", "htpasswd", "pgpassword", "mysqlpwd", "storepass", "keypass",
    "srcstorepass", "deststorepass", "srckeypass", "destkeypass", "passin", "passout", "kennwort", "passwort",
    "senha", "wachtwoord", "contrasena",
})
# Compound lowercase keys (`dbpassword`, `accesstoken`) end with one of these.
_COMPOUND_ENDINGS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "credential",
                     "credentials", "privatekey", "accesskey", "secretkey", "appkey", "sessionid", "sessid")
KEY_QUALIFIERS = frozenset({
    "api", "access", "secret", "private", "account", "app", "application", "master", "encryption", "signing",
    "client", "license", "service", "admin", "storage", "shared", "auth", "sas", "subscription", "deploy", "ssh",
    "webhook", "hmac", "consumer", "dd", "sk", "pk", "write", "read", "ingest", "ingestion", "integration",
    "personal", "bot", "user", "root", "server", "encrypt", "decrypt", "crypt", "aes", "jwt", "session", "gpg",
    "pgp", "rsa", "ecdsa", "ed25519", "cipher", "sendgrid", "stripe", "twilio", "mailgun", "datadog", "sentry",
})
# A last word that says the value is something *about* the credential, not the credential.
_NOT_SECRET_SUFFIX = frozenset({
    "count", "counts", "len", "length", "size", "type", "types", "name", "names", "file", "files", "path",
    "paths", "dir", "url", "uri", "urls", "endpoint", "endpoints", "expiry", "expires", "expiration", "expired",
    "ttl", "timeout", "enabled", "disabled", "required", "mode", "format", "field", "fields", "header", "headers",
    "policy", "provider", "providers", "method", "methods", "scheme", "version", "limit", "limits", "max", "min",
    "used", "usage", "ref", "refs", "env", "source", "store", "strategy", "hint", "rotation", "age", "duration",
    "interval", "period", "retries", "attempts", "status", "error", "errors", "valid", "validation", "algorithm",
    "alg", "kind", "ids", "reset", "changed", "updated", "created", "set", "missing", "found", "tokens", "lifetime",
    "location", "host", "port", "issuer", "audience", "scope", "scopes", "prefix", "label", "selector", "class",
    "backend", "mount", "volume", "namespace", "handler", "cache", "check", "checks", "test", "tests",
})


def split_words(key: str) -> list[str]:
    """`dbPassword` -> [db, password]; `X-Api-Key` -> [x, api, key]; `_authToken` -> [auth, token]."""
    return [w.lower() for w in _WORDS.findall(key)]


@lru_cache(maxsize=4096)
def is_credential_key(key: str, *, in_query: bool = False) -> bool:
    """Does a value under this key (in any syntax) hold a credential?"""
    words = split_words(key)
    if not words:
        return False
    if words[-1] in _NOT_SECRET_SUFFIX:
        return False
    if words[-1] == "id" and not any(w.startswith("sess") for w in words):
        return False
    if words == ["key"]:
        return in_query
    for i, w in enumerate(words):
        if w in CREDENTIAL_WORDS:
            return True
        if w in ("key", "keys") and any(q in KEY_QUALIFIERS for q in words[:i]):
            return True
        if len(w) > 6 and w.endswith(_COMPOUND_ENDINGS):
            return True
    return False


_PLACEHOLDER = re.compile(
    r"(?i)^(?:|null|none|nil|~|true|false|yes|no|on|off|undefined|empty|\*+|x+|\.\.\.|…|-|<[^<>]*>|\$\{[^}]*\}"
    r"|\$\(?[A-Za-z_][A-Za-z0-9_]*\)?|\{\{[^}]*\}\}|%\([^)]*\)s|%s|\[redacted\]|redacted|<redacted>|\[filtered\]"
    r"|(?:\*{4}[^\s]*))$"
)


def is_placeholder(value: str) -> bool:
    """A value that is not a secret whatever its key says (`${DB_PASSWORD}`, `null`, `****`, `<set>`)."""
    return bool(_PLACEHOLDER.match(value.strip()))


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def looks_random(value: str, *, min_len: int = 16) -> bool:
    """A token-like run: long enough, several character classes, high entropy, and not evidence."""
    if len(value) < min_len or is_evidence(value):
        return False
    classes = sum(bool(re.search(p, value)) for p in ("[a-z]", "[A-Z]", "[0-9]", "[^A-Za-z0-9]"))
    if classes < 2:
        return False
    return entropy(value) >= (3.0 if len(value) < 24 else 3.5)


# What evidence needs and a random-looking token judgement must never mask.
_HEX = "[0-9a-fA-F]"
_EVIDENCE = re.compile(
    "^(?:"
    rf"(?:sha1|sha256|sha384|sha512|md5):{_HEX}{{16,}}"  # image / content digests
    rf"|[0-9a-f]{{7,40}}|[0-9A-F]{{7,40}}|[0-9a-f]{{64}}"  # git SHAs, bare sha256 (one case: random keys mix)
    rf"|{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"  # UUIDs
    r"|(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?:/\d{1,2})?"  # IPv4[:port][/mask]
    rf"|\[?{_HEX}{{0,4}}(?::{_HEX}{{0,4}}){{2,7}}\]?(?::\d+)?"  # IPv6
    r"|[a-z0-9][a-z0-9.\-]*-[a-f0-9]{8,10}(?:-[a-z0-9]{5})?"  # ReplicaSet / pod names with their hashes
    r"|\.{0,2}/[^\s]*|[A-Za-z]:\\[^\s]*"  # paths
    r"|[\w./\-]+\.(?:py|go|java|kt|scala|rb|js|ts|mjs|cjs|rs|cs|php|c|cc|cpp|h|hpp|swift|ex|exs|erl):\d+\w*"  # frames
    r"|v?\d+(?:[.\-_]\d+)*(?:[.\-+][0-9a-z.]+)?"  # versions, numbers
    r"|\d{4}-\d\d-\d\d(?:[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?)?"  # timestamps
    r"|[a-z][a-z.\-]*(?::\d+)?|[A-Z][A-Z_]*"  # hostnames, plain words, CONSTANT_NAMES
    r"|[a-z0-9.\-]+(?::\d+)?(?:/[a-z0-9._\-]+)+(?::[\w.\-]+)?(?:@sha256:[0-9a-f]{64})?"  # image references
    r"|[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*(?:\.[A-Z][A-Za-z0-9_$]*)+(?:\.[a-z][A-Za-z0-9_]*)?"  # Java names
    r")$"
)


def is_evidence(value: str) -> bool:
    """Is `value` something a reader of the evidence needs (never masked on a randomness judgement)?"""
    return bool(_EVIDENCE.match(value))
