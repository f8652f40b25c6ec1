"""The line rules of redaction: token shapes, credential context in every syntax, random values after a
credential word.

Each rule is a Python pattern, a function from a match to (replacement, secret or None), and a
necessary condition in RE2 syntax. The engine finds the candidate lines of a whole log with one RE2
pass over the union of the conditions and runs, on each candidate line, only the rules whose
condition holds there. Every rule is line-local (separators are `[ \\t]`, never a newline), so that
split is exact; the multi-line forms (PEM blocks, YAML block scalars, key bodies over several lines)
are the engine's.

Syntaxes covered by the context rules: `k=v`, `k: v`, `"k": "v"`, `k => v`, JSON escaped inside
JSON (`\\"k\\":\\"v\\"`), properties (`a.b.password=`), query strings (`?key=`, `&sig=`), headers
(`Authorization`, `Cookie`, `X-Api-Key:`), CLI flags (`--password X`, `--token=X`, `-u user:pass`,
`mysql -pX`, `docker login -p X`), URLs with userinfo (`scheme://user:pass@`, `https://<key>@` as in
Sentry DSNs), JDBC/Oracle `user/pass@`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fyr.core.redaction.keys import KEY_QUALIFIERS, is_credential_key, is_placeholder, looks_random
from fyr.core.redaction.shapes import SHAPES, shapes_pattern

__all__ = ["LINE_RULES", "MASK", "Rule"]

MASK = "****"
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-$@")

Replacer = Callable[[re.Match[str]], tuple[str, str | None]]


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    replace: Replacer
    condition: bytes  # RE2, a superset of what `pattern` matches on one line
    resume: str | None = None  # on a declined match, search again from the end of this group
    anchor: re.Pattern[str] | None = None  # words a match must contain: tried only around them (speed)

    def apply(self, line: str, found: list[str] | None) -> str:
        """`line` with every accepted match replaced. A declined match (a key that is no credential)
        does not swallow its value: the search resumes inside it, so `"msg":"{\\"password\\":...}"`
        still finds the inner key."""
        out: list[str] = []
        pos = at = 0
        for m in self._matches(line):
            if m.start() < at:
                continue
            replacement, secret = self.replace(m)
            if secret is None and replacement == m.group(0):
                continue
            out += [line[pos : m.start()], replacement]
            if secret is not None and found is not None:
                found.append(secret)
            pos = m.end()
            at = max(pos, m.start() + 1)
        if not out:
            return line
        out.append(line[pos:])
        return "".join(out)

    def _matches(self, line: str) -> Iterator[re.Match[str]]:
        """Candidate matches, left to right; after a declined one the next may start inside it."""
        if self.anchor is not None:
            tried = -1
            for a in self.anchor.finditer(line):
                k = a.start()
                while k > 0 and line[k - 1] in _KEY_CHARS:
                    k -= 1
                start = k - 1 if k > 0 else 0
                if start <= tried:
                    continue
                tried = start
                m = self.pattern.match(line, start)
                if m is not None:
                    yield m
            return
        at = 0
        while at <= len(line):
            m = self.pattern.search(line, at)
            if m is None:
                return
            yield m
            resume = m.end(self.resume) if self.resume and m.group(self.resume) is not None else m.end()
            at = max(resume, m.start() + 1)


def _splice(m: re.Match[str], group: str, masked: str = MASK) -> str:
    """The match with one group replaced by `masked`."""
    start, end = m.span(group)
    return m.string[m.start() : start] + masked + m.string[end : m.end()]


def _masked_value(m: re.Match[str], group: str = "value") -> tuple[str, str | None]:
    value = m.group(group)
    if value is None or MASK in value or is_placeholder(value):
        return m.group(0), None
    return _splice(m, group), value


# --- layer 1: shapes ---------------------------------------------------------------------------
_SHAPES = shapes_pattern()


def _mask_shape(m: re.Match[str]) -> tuple[str, str | None]:
    vendor = m.lastgroup or ""
    keep = m.group("k" + vendor[1:]) or ""
    return keep + MASK, m.group(0)


# --- layer 2: credential context -----------------------------------------------------------------
# Twilio's auth token is 32 bare hex digits: a secret by its place right after an account SID
_TWILIO_PAIR = re.compile(r"(?<![A-Za-z0-9])AC[a-f0-9]{32}[\"',:;/ \t]{1,6}(?P<value>[a-f0-9]{32})(?![A-Za-z0-9])")

_URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]{0,30}://)(?P<user>[^\s:/?#@\"'<>\\]{0,256})"
    r"(?::(?P<value>[^\s@/\"'<>\\]{1,512}))?@(?=[^\s@/])"
)


def _mask_url(m: re.Match[str]) -> tuple[str, str | None]:
    if m.group("value") is not None:
        return _masked_value(m)
    user = m.group("user")
    # a key as the whole userinfo (Sentry DSNs, `https://<token>@host`): long with a digit
    if len(user) >= 16 and re.search(r"\d", user) and MASK not in user:
        return _splice(m, "user"), user
    return m.group(0), None


_JDBC = re.compile(r"(?i)(?:jdbc:oracle:[a-z0-9]+:@?|\bsqlplus[ \t]+)(?P<user>[^/\s:@\"']+)/(?P<value>[^@\s\"']+)@")

_AUTH_HEADER = re.compile(
    r"(?i)(?P<head>\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?)"
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9\-]{1,24})[ \t]+(?=[^\s\"',;]))?"
    r"(?P<value>[^\s\"',;]+(?:,[ \t]*[A-Za-z]+=[^\s\"',;]+)*)"
)
_BEARER = re.compile(r"(?i)(?P<head>\b(?:bearer|token)[ \t]+)(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)")
_BASIC = re.compile(r"(?i)(?P<head>\bbasic[ \t]+)(?P<value>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])")


def _mask_bearer(m: re.Match[str]) -> tuple[str, str | None]:
    value = m.group("value")
    # "Bearer authentication", "token expired": prose; a credential has a digit or a symbol
    if not re.search(r"[^A-Za-z]", value) or (m.group("head").lower().startswith("token") and not looks_random(
            value, min_len=12)):
        return m.group(0), None
    return _masked_value(m)


def _mask_basic(m: re.Match[str]) -> tuple[str, str | None]:
    value = m.group("value")
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return m.group(0), None
    return _masked_value(m) if b":" in decoded else (m.group(0), None)


_COOKIE = re.compile(r"(?i)(?P<head>\b(?:set-)?cookie2?[\"']?[ \t]*[:=][ \t]*[\"']?)(?P<value>[^\n\"']+)")
_COOKIE_PAIR = re.compile(r"(?P<name>[^\s=;,]+)=(?P<value>[^;,\s]*)")
_COOKIE_ATTRS = frozenset({"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "version",
                           "comment", "priority", "partitioned"})


def _mask_cookie(m: re.Match[str]) -> tuple[str, str | None]:
    found: list[str] = []

    def pair(p: re.Match[str]) -> str:
        value = p.group("value")
        if p.group("name").lower() in _COOKIE_ATTRS or not value or MASK in value:
            return p.group(0)
        found.append(value)
        return f"{p.group('name')}={MASK}"

    masked = _COOKIE_PAIR.sub(pair, m.group("value"))
    return m.group("head") + masked, (found[0] if found else None)


# `-u user:pass`, `--user user:pass`, `--proxy-user=u:p` (curl, wget, httpie)
_USER_PASS = re.compile(r"(?<![\w-])(?:-u|-U|--user|--proxy-user|--auth|-a)(?:[ \t]+|=|(?=[^\s-]))[\"']?"
                        r"(?P<user>[^\s:\"']+):(?P<value>[^\s\"']+)")
# `redis-cli -a X`, `sshpass -p X`, .netrc `machine h login u password X`
_TOOL_SECRET = re.compile(
    r"(?:(?i:\bredis-cli\b).*?(?<![\w-])-a|(?i:\b(?:sshpass|mongo|mongosh)\b).*?(?<![\w-])-p"
    r"|(?i:\bldap\w+\b).*?(?<![\w-])-w|(?i:\b(?:sqlcmd|bcp|zip)\b).*?(?<![\w-])-P"
    r"|(?i:\bhtpasswd\b)[ \t]+-\w*b\w*(?:[ \t]+\S+){2}"
    r"|(?i:\bmachine[ \t]+\S+[ \t]+login[ \t]+\S+[ \t]+password)"
    r"|(?i:\bAUTH[ \t]+(?:PLAIN|LOGIN|CRAM-MD5|XOAUTH2)))[ \t]+(?P<value>[^\s\-][^\s]*)"
)
# openssl `-passin pass:X`, `-passout env:`-free forms; `-k X` is openssl's legacy password flag
_OPENSSL_PASS = re.compile(r"(?i)(?<![\w-])-pass(?:in|out|word)?[ \t]+(?:pass|file|env|fd):(?P<value>[^\s\"']+)")
# mysql -pSECRET / --password=SECRET (mysql, mariadb, mysqldump, mysqladmin)
_MYSQL_P = re.compile(r"(?i)\b(?:mysql\w*|mariadb\w*)\b.*?(?<![\w-])-p(?P<value>[^\s\-\"'][^\s\"']*)")
# `docker login -p X`, `helm registry login --password X`
_LOGIN_P = re.compile(r"(?i)\blogin\b.*?(?<![\w-])-p[ \t]+(?P<value>[^\s\-][^\s]*)")
# --flag=value where the flag names a secret (wide on purpose: `--basic-auth=`, `--token-file=`)
_FLAG_EQ = re.compile(
    r"(?i)(?<![\w-])(?P<key>--?[\w.-]{0,80}?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credentials?|auth)(?:[_.-][\w.-]{0,40})?=)(?P<value>[^\s\"']+)"
)
# --flag value where the flag's words make it a credential (`--password X`, `--api-token X`)
# ASCII word characters, as the RE2 condition over bytes sees them: a flag is ASCII on every CLI.
_FLAG_SEP = re.compile(r"(?<![\w-])(?P<key>--?[A-Za-z][\w.-]{0,80})[ \t]+(?P<value>\"[^\"\n]*\"|'[^'\n]*'"
                       r"|[^\s\-\"'][^\s]*)", re.ASCII)


def _mask_flag_sep(m: re.Match[str]) -> tuple[str, str | None]:
    if not is_credential_key(m.group("key")):
        return m.group(0), None
    return _mask_quoted(m)


def _mask_quoted(m: re.Match[str]) -> tuple[str, str | None]:
    value = m.group("value")
    if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
        inner = value[1:-1]
        if not inner or MASK in inner or is_placeholder(inner):
            return m.group(0), None
        return _splice(m, "value", value[0] + MASK + value[0]), inner
    return _masked_value(m)


_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate", "apikey", "sharedkey", "hmac"})
# k=v, k: v, "k": "v", k => v, \"k\":\"v\" — the key judged by its words (keys.is_credential_key)
_KV = re.compile(
    r"(?P<lead>^|[\s\"'{,;&?#=(\[/:<>|]|\\\")"
    r"(?P<key>[A-Za-z_$@][A-Za-z0-9_.\-$@]{0,80}?)(?P<kq>\\?[\"'])?[ \t]*(?P<op>=>|=|:(?!//|:))[ \t]*"
    r"(?P<value>\\\"(?:[^\"\\\n]|\\[^\"\n])*\\\"|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"
    r"|(?![{\[|>\\])[^\s&;,\"'})\]]+(?P<rest>(?:[ \t]+[^\s&;,\"'})\]=:#]+(?![=:\w]))*))"
)


def _random_under_bare_key(key: str, value: str) -> bool:
    """`"key": "<32+ hex or random>"`: a bare `key` holds a key when its value is one (a cache key is not)."""
    if key.lower() not in ("key", "_key", "keys"):
        return False
    inner = value.strip("\\\"'")
    return bool(re.fullmatch(r"[0-9a-fA-F]{32,}", inner)) or looks_random(inner, min_len=20)


def _mask_kv(m: re.Match[str]) -> tuple[str, str | None]:
    lead = m.group("lead")
    if m.group("value").split()[0].lower() in _AUTH_SCHEMES:
        return m.group(0), None  # `Authorization: Bearer ****`: the header rule owns it
    key = m.group("key")
    if not is_credential_key(key, in_query=lead in ("?", "&")) and not _random_under_bare_key(key, m.group("value")):
        return m.group(0), None
    value = m.group("value")
    if m.group("kq") and value[:1] not in ("'", '"', "\\") and re.match(r"[ \t]+:", m.string[m.end("kq"):]):
        return m.group(0), None  # kubelet prose: `volume "creds" : secret "db-creds" not found`
    rest = m.group("rest") or ""
    line_key = m.group("op") != "=" and m.string[: m.start("key")].strip(" \t-\"'") == ""
    if rest and not line_key:
        value = value[: len(value) - len(rest)]  # mid-line `k: v more words`: the value is one token
    for q in ('\\"', '"', "'"):
        if value.startswith(q) and value.endswith(q) and len(value) >= 2 * len(q):
            inner = value[len(q) : -len(q)]
            if not inner or MASK in inner or is_placeholder(inner):
                return m.group(0), None
            start = m.start("value")
            return m.string[m.start() : start] + q + MASK + q + m.string[start + len(value) : m.end()], inner
    if MASK in value or is_placeholder(value):
        return m.group(0), None
    start = m.start("value")
    return m.string[m.start() : start] + MASK + m.string[start + len(value) : m.end()], value


# <password>x</password>, <add key="DbPassword" value="x"/> (XML configs echoed in logs)
_XML = re.compile(r"<(?P<key>[\w:.\-]{1,80})(?:[ \t][^>\n]*)?>(?P<value>[^<\n]{1,512})</(?P=key)>")
_XML_ATTR = re.compile(r"(?i)\bkey=\"(?P<key>[^\"\n]{1,80})\"[ \t]+value=\"(?P<value>[^\"\n]*)\"")


def _mask_xml(m: re.Match[str]) -> tuple[str, str | None]:
    if not is_credential_key(m.group("key")):
        return m.group(0), None
    return _masked_value(m)


# --- layer 3: a random-looking value right after a credential word --------------------------------
_AFTER_WORD = re.compile(
    r"(?i)(?<![A-Za-z])(?:api[ _-]?key|access[ _-]?key|secret(?:[ _-]key)?|token|password|passwd|pwd|credentials?"
    r"|signature|auth[ _-]?key)\b(?:[ \t]+(?:is|was|of|for[ \t]+\S+|with|using|set[ \t]+to|value))?[ \t]+[\"'`]?"
    r"(?P<value>[A-Za-z0-9+/_\-.=~!@#$%^&*]{12,})"
)


def _mask_after_word(m: re.Match[str]) -> tuple[str, str | None]:
    value = m.group("value").rstrip(".,;:!")
    if not looks_random(value, min_len=12) or MASK in value:
        return m.group(0), None
    start = m.start("value")
    return m.string[m.start() : start] + MASK + m.string[start + len(value) : m.end()], value


# `password is "hunter2"`, `with password 'x'`: a quoted value right after a credential word, in prose
_QUOTED_AFTER_WORD = re.compile(
    r"(?i)(?<![A-Za-z])(?:(?:password|passwd|passphrase|pwd)[ \t]+(?:(?:is|was|set[ \t]+to|of)[ \t]*:?[ \t]*)?"
    r"|(?:secret|token|api[ _-]?key)[ \t]+(?:is|was|set[ \t]+to)[ \t]*:?[ \t]*)"  # `secret "db-creds" not found`
    r"(?P<value>\"[^\"\n]{3,200}\"|'[^'\n]{3,200}'|`[^`\n]{3,200}`)"
)

_KEYWORDS = rb"pass|pwd|pw|secret|token|key|auth|cred|sess|cookie|sig|dsn|jwt|otp|bearer"
# `key` alone is everywhere (`"keys":`, `cache_key=`): only with a qualifier, in a query, or before a random value
_KV_WORDS = (rb"pass|pwd|pw|secret|token|auth|cred|sess|cookie|sig|dsn|jwt|otp|bearer|sas|kennwort|senha|wachtwoord|"
             rb"contrase|"
             rb"(?:" + "|".join(sorted(KEY_QUALIFIERS)).encode() + rb")[_.\-]?key")
_KV_ANCHOR = re.compile(
    r"(?i)pass|pwd|pw|secret|token|auth|cred|sess|cookie|sig|dsn|jwt|otp|bearer|sas|key|kennwort|senha|wachtwoord|contrase")
LINE_RULES: tuple[Rule, ...] = (
    Rule("twilio_pair", _TWILIO_PAIR, _masked_value, rb"AC[a-f0-9]{32}[\"',:;/ \t]{1,6}[a-f0-9]{32}"),
    Rule("shape", _SHAPES, _mask_shape, b"|".join(s.condition.encode() for s in SHAPES)),
    Rule("url_userinfo", _URL, _mask_url, rb"://[^\s/@]*@", "scheme"),
    Rule("jdbc", _JDBC, _masked_value, rb"(?i)jdbc:oracle|sqlplus"),
    Rule("authorization", _AUTH_HEADER, _masked_value, rb"(?i)authorization"),
    Rule("bearer", _BEARER, _mask_bearer, rb"(?i)bearer|token[ \t]"),
    Rule("basic", _BASIC, _mask_basic, rb"(?i)basic"),
    Rule("cookie", _COOKIE, _mask_cookie, rb"(?i)cookie"),
    Rule("user_pass_flag", _USER_PASS, _masked_value, rb"(?:^|[^\w\-])-(?:u|U|a|-user|-proxy-user|-auth)"),
    Rule("mysql_p", _MYSQL_P, _masked_value, rb"(?i)(?:mysql|mariadb)[^\n]*\s-p"),
    Rule("login_p", _LOGIN_P, _masked_value, rb"(?i)login[^\n]*\s-p[ \t]"),
    Rule("tool_secret", _TOOL_SECRET, _masked_value,
         rb"(?i)redis-cli|sshpass|mongo|ldap|sqlcmd|bcp|zip|htpasswd|machine[ \t]|AUTH[ \t]"),
    Rule("openssl_pass", _OPENSSL_PASS, _masked_value, rb"(?i)-pass(?:in|out|word)?[ \t]+(?:pass|file|env|fd):"),
    Rule("flag_eq", _FLAG_EQ, _masked_value, rb"-(?i:[\w.\-]*(?:pass|pwd|secret|token|key|credential|auth)[\w.\-]*)="),
    Rule("flag_sep", _FLAG_SEP, _mask_flag_sep, rb"(?:^|[^\w\-])--?(?i:[\w.\-]*(?:" + _KEYWORDS + rb"))[\w.\-]*[ \t]",
         "key"),
    Rule("key_value", _KV, _mask_kv,
         rb"(?i:" + _KV_WORDS + rb")[\w.\-$@]*\\?[\"']?[ \t]*[=:]|[?&]key=|(?i:\b_?keys?)\\?[\"']?[ \t]*[=:][ \t]*"
         rb"\\?[\"']?[0-9A-Za-z+/=_\-]{20}", "op", _KV_ANCHOR),
    Rule("xml", _XML, _mask_xml, rb"<(?i:[\w:.\-]*(?:" + _KEYWORDS + rb"))[\w:.\-]*[ \t>]"),
    Rule("xml_attr", _XML_ATTR, _mask_xml, rb"(?i)key=\"[^\"]*(?:" + _KEYWORDS + rb")"),
    Rule("quoted_after_word", _QUOTED_AFTER_WORD, _mask_quoted,
         rb"(?i:password|passwd|passphrase|pwd|secret|token|api[ _-]?key)[ \t]+"
         rb"(?:(?:is|was|set[ \t]+to|of)[ \t]*:?[ \t]*)?[\"'`]"),
    Rule("after_word", _AFTER_WORD, _mask_after_word,
         rb"(?i:key|secret|token|password|passwd|pwd|credential|signature)[ \t]"),
)
