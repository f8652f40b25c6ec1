"""Instruction-like text in the data the model reads: found before the call, never removed.

Whoever can make an application log a line talks to Fyr's model. This module looks through every
string of the reduced context (log lines, event messages, signal messages, annotations, names)
for text addressed to a model rather than to a person: "ignore previous instructions" and its
paraphrases and translations, imperatives addressed to an AI/assistant/model, chat-template role
markers, answers shaped like Fyr's own output, and fake opening or closing tags of the prompt's
own blocks. Adjacent lines of one list are also read joined, so an instruction split over several
log lines is found too.

A finding does not remove the line (it may be the evidence of the failure); it flags the analysis
as `possible prompt injection in logs` and the analyzer then keeps the rules' text. The patterns
follow the published instruction-bypass and system-instruction YARA rules of vigil-llm and the
tightened override rule of Cisco's skill-scanner (a verb, a qualifier such as "previous" or
"all", and a noun such as "instructions" within one short window), carried into a dozen languages;
they are tuned to stay silent on ordinary application logs (tests/corpus: zero findings).
Pure: no I/O, no model.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

INJECTION_FLAG = "possible prompt injection in logs"

# Joined windows of consecutive lines: an instruction split over this many lines is still read.
_JOIN_WINDOW = 4
# Verb, qualifier and noun of an override must fall within this many characters.
_OVERRIDE_SPAN = 90
_MAX_SCAN = 4000  # characters of one string that are read (longer lines: the head and the tail)

# Zero-width, soft-hyphen and bidi controls that split a word without showing (NFKC keeps them).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Finding:
    """One piece of instruction-like text: which rule saw it, where, and the text it is in."""

    rule: str
    where: str
    text: str
    lines: tuple[str, ...]  # the context's strings it was read from (several when split over lines)


def normalise(text: str) -> str:
    """NFKC (full-width and other compatibility forms), invisible characters out, casefolded,
    whitespace collapsed: what the patterns read."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return _WS.sub(" ", text).casefold().strip()


# --- override: verb + qualifier + noun, per language -----------------------------------------------

@dataclass(frozen=True)
class _Override:
    verbs: re.Pattern[str]
    qualifiers: re.Pattern[str]
    nouns: re.Pattern[str]


def _words(alternatives: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _stems(alternatives: str) -> re.Pattern[str]:
    # a stem followed by any inflection; for scripts without spaces (CJK) no boundary at all
    return re.compile(rf"(?:{alternatives})")


_OVERRIDES: tuple[_Override, ...] = (
    # English: strong verbs with any qualifier
    _Override(
        _words(r"ignore|disregard|forget|neglect|overlook|pay no attention to|do not follow|don't follow|"
               r"do not obey|don't obey|stop following|discard|bypass|override|skip"),
        _words(r"all|any|every|previous|prior|above|earlier|preceding|foregoing|initial|original|your|"
               r"system|everything|the rest of|other"),
        _words(r"instructions?|directions?|directives?|prompts?|rules|guidelines|guidance|commands?|"
               r"orders|context|constraints|programming|system prompt|messages?|everything|"
               r"what you (?:were|have been) told"),
    ),
    # German
    _Override(_stems(r"ignorier|vergiss|vergessen|missacht|übergeh"),
              _stems(r"vorherig|bisherig|obig|alle|vorangegangen|vorstehend|deine|ihre|frühere"),
              _stems(r"anweisung|instruktion|befehl|regeln|vorgabe|anordnung|richtlinie")),
    # French
    _Override(_stems(r"ignor|oubli|néglig|ne tiens pas compte|ne tenez pas compte"),
              _stems(r"précédent|toutes|tous|ci-dessus|antérieur|vos |tes |plus haut"),
              _stems(r"instruction|consigne|directive|règle|ordres")),
    # Spanish, Italian, Portuguese
    _Override(_stems(r"ignor|olvid|dimentic|esqueç|esquec|no sigas|non seguire|não siga"),
              _stems(r"anterior|previ|prévi|tod[ao]s|tutt[ei]|precedent|de arriba|sopra|acima|tus |sus "),
              _stems(r"instrucc|instruç|instruc|istruzion|indicaci|indicazion|regla|regol|regra|órdenes|"
                     r"ordens|directri|diretri|direttiv")),
    # Dutch, Scandinavian, Polish, Czech, Indonesian
    _Override(_stems(r"negeer|negeren|vergeet|ignorera|ignorer|glöm|glem|zignoruj|ignoruj|zapomnij|"
                     r"zapomeň|abaikan|lupakan"),
              _stems(r"vorige|eerdere|bovenstaande|alle|tidigare|tidligere|forrige|poprzedni|wszystk|"
                     r"wcześniejsz|předchozí|všechny|sebelumnya|semua"),
              _stems(r"instructie|aanwijzing|regels|opdracht|instruktion|instruks|anvisning|instrukcj|"
                     r"polece|zasad|instrukce|pokyny|příkaz|instruksi|perintah|aturan")),
    # Russian, Ukrainian
    _Override(_stems(r"игнорир|проигнорир|забуд|не обращай|ігнор|забудь"),
              _stems(r"предыдущ|все |всех|вышеуказанн|прежн|выше|попередн|усі|всі"),
              _stems(r"инструкц|указани|правил|команд|інструкц|вказівк")),
    # Turkish
    _Override(_stems(r"yok say|yoksay|görmezden gel|unut"),
              _stems(r"önceki|tüm|bütün|yukarıdaki"),
              _stems(r"talimat|komut|kural")),
    # Chinese, Japanese, Korean (no spaces: stems without boundaries)
    _Override(_stems(r"忽略|忽视|無視|无视|忘记|忘記|不要理会|不理会|忘れ|무시|잊어"),
              _stems(r"之前|以前|先前|上面|以上|前面|所有|全部|上述|これまで|前の|上記|すべて|全て|이전|모든|위의|앞의"),
              _stems(r"指令|指示|说明|說明|规则|規則|提示|命令|ルール|プロンプト|지시|명령|지침|규칙|프롬프트")),
    # Arabic, Hindi, Vietnamese
    _Override(_stems(r"تجاهل|انس|अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल जाओ|bỏ qua|phớt lờ|quên"),
              _stems(r"السابقة|جميع|كل|पिछले|सभी|trước|tất cả"),
              _stems(r"التعليمات|الأوامر|تعليمات|निर्देश|hướng dẫn|chỉ dẫn|chỉ thị|lệnh")),
)


def _override(text: str) -> bool:
    for lang in _OVERRIDES:
        for verb in lang.verbs.finditer(text):
            window = text[max(0, verb.start() - _OVERRIDE_SPAN): verb.end() + _OVERRIDE_SPAN]
            if lang.nouns.search(window) and lang.qualifiers.search(window):
                return True
    return False


# --- the other rules ---------------------------------------------------------------------------------

_ADDRESSEE = (r"(?:ai|a\.i\.|llm|assistant|chat ?bot|bot|gpt|chatgpt|claude|gemini|copilot|language model|"
              r"large language model|model|fyr|analy[sz]er|automated (?:system|analy[sz]er|tool|reviewer))")
_IMPERATIVE = (r"(?:report|say|respond|reply|answer|output|print|write|tell|classify|categori[sz]e|label|set|"
               r"mark|change|include|recommend|suggest|summari[sz]e|ignore|disregard|forget|return|state|"
               r"conclude|use|add|instruct|advise|emit|describe|explain|put|claim)")
_CATEGORIES = (r"image_pull|crash_loop|oom_killed|config_error|probe_failure|create_failed|mount_failure|"
               r"progress_deadline")

_STRONG_ADDRESSEE = (r"(?:ai|a\.i\.|llm|gpt|chatgpt|claude|gemini|copilot|(?:large )?language model|"
                     r"ai (?:assistant|model|agent))")

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("addressed to a model", re.compile(
        rf"(?<!\w)(?:hey|hi|hello|dear|attention)\s*,?\s*(?:the |any |all |our )?{_ADDRESSEE}s?(?!\w)"
        rf"|(?<!\w)(?:note|message|instructions?|reminder|memo|request)\s+(?:to|for)\s+(?:the |any |all |our )?"
        rf"{_ADDRESSEE}s?(?!\w)"
        rf"|(?<!\w)(?:if|when|while) you(?:'re| are) (?:an? |the )?(?:ai|llm|assistant|chat ?bot|gpt|"
        rf"(?:large )?language model|model|automated)"
        rf"|(?<!\w)(?:to|for) (?:the |any |an? )?{_ADDRESSEE}s? (?:reading|analy[sz]ing|processing|summari[sz]ing)"
        rf"|(?<!\w){_STRONG_ADDRESSEE}s?\s*[,:;!-]+\s*(?:please\s+)?(?:you (?:must|should|will|need to)\s+)?"
        rf"(?:now\s+)?{_IMPERATIVE}(?!\w)"
        rf"|(?<!\w)(?:the |this |any )?(?:{_STRONG_ADDRESSEE}|assistant|model|analy[sz]er|fyr)\s+(?:must|should|shall|"
        rf"will|needs to|has to)\s+(?:now\s+)?(?:only\s+)?(?:reply|respond|answer|report|say|classify|output|ignore|"
        rf"tell|state|recommend|conclude)(?!\w)"
        rf"|(?<!\w)when (?:summari[sz]ing|analy[sz]ing|diagnosing|you (?:summari[sz]e|analy[sz]e|read|process))"
        rf"(?!\w)")),
    ("role change", re.compile(
        r"(?<!\w)you (?:are|will) now(?!\w)|(?<!\w)from now on(?!\w)|(?<!\w)act as (?:an?|the|my)(?!\w)|"
        r"(?<!\w)pretend (?:to be|you are|that you)|(?<!\w)new (?:system )?(?:instructions?|rules|task)\s*[:\-!]|"
        r"(?<!\w)your (?:new|real|actual|true|only) (?:task|instructions?|goal|job|role|purpose)(?!\w)|"
        r"(?<!\w)system prompt(?!\w)|(?<!\w)developer mode(?!\w)|(?<!\w)jailbr[eo]a?k|(?<!\w)dan mode(?!\w)|"
        r"(?<!\w)(?:ignore|disregard|forget)\s+(?:all\s+)?(?:of\s+)?(?:the\s+|everything\s+|what\s+(?:is|was|came)\s+)?"
        r"(?:above|before|previously said|prior text)(?!\w)|(?<!\w)forget everything(?!\w)|"
        r"(?<!\w)(?:du bist jetzt|tu es maintenant|vous êtes maintenant|ahora eres|ora sei|agora você é|"
        r"теперь ты|neue anweisungen|nouvelles? (?:instructions|consignes)|nuevas instrucciones|"
        r"nuove istruzioni|novas instruções)|新的指令|新しい指示|새로운 지시")),
    ("role marker", re.compile(
        r"<\|?\s*(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id|end_header_id|"
        r"begin_of_text)\s*\|?>|\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>|\{\{[#/~]*system~?\}\}|"
        r"(?:^|\n)\s*(?:#{2,4}\s*)?(?:assistant|human)\s*:|"
        r"(?<!\w)(?:system|developer)\s+(?:prompt|message|instructions?)\s*:|"
        r"#{2,4}\s*(?:system|instructions?|response|assistant)\s*:?(?!\w)|\[system\]|"
        r"[\"']role[\"']\s*:\s*[\"'](?:system|assistant|developer|tool)[\"']")),
    ("fake prompt block", re.compile(
        r"</?\s*(?:rules_json|context_json|untrusted[_ -]?\w*|system|instructions?|context|rules|human|"
        r"assistant|user_input|prompt)\s*>|(?:\\u003c|&lt;)\s*/?\s*(?:rules_json|context_json)|"
        r"={2,}\s*(?:human|system|assistant|user|instructions?|end)\s*={2,}|"
        r"(?<!\w)end of (?:the )?(?:context|untrusted (?:data|text)|rules|prompt|system prompt)(?!\w)|"
        # the prompt's own sentences, to pass as its frame
        r"(?<!\w)end of the data(?!\w)|(?<!\w)the data follows(?!\w)|(?<!\w)your instructions are(?!\w)|"
        r"(?<!\w)security rules \(|(?<!\w)how to answer:|rolloutanalysis|instructions_in_data|"
        r"(?<!\w)(?:begin|start) of (?:the )?(?:new )?(?:instructions|system prompt)(?!\w)|"
        r"(?<!\w)(?:begin|end) (?:untrusted|system|instructions)(?!\w)")),
    ("directive to the reader", re.compile(
        r"(?<!\w)(?:system|admin|security|priority|emergency) override(?!\w)|"
        r"(?<!\w)(?:important|urgent|critical|priority|mandatory) (?:instructions?|directive|notice|message|update) "
        r"(?:for|to) (?:the |any |all )?(?:reader|assistant|ai|model|analy[sz]er|llm|bot)|"
        r"(?<!\w)(?:previous|prior|above|earlier|original|old) "
        r"(?:instructions?|guidance|directives?|rules|prompt|context) (?:is|are|were|was|have been|has been) "
        r"(?:now )?(?:obsolete|void|invalid|cancel+ed|revoked|superseded|"
        r"outdated|replaced|no longer (?:valid|apply|applies|in effect))|"
        r"(?<!\w)(?:stop|do not|don't|no need to) (?:analy[sz]|investigat|diagnos|troubleshoot)\w*|"
        r"(?<!\w)(?:print|reveal|show|repeat|output|leak|disclose) (?:me )?(?:your|the) (?:system |initial |hidden )?"
        r"(?:prompt|instructions)(?!\w)|"
        r"(?<!\w)(?:team|on-?call|operators?|engineers?|developers?|admins?|sres?) "
        r"(?:should|must|needs? to|has to|have to) (?:run|execute|install|apply|paste|download|curl)(?!\w)|"
        # advice to pipe a download into a shell: a fix nobody should take from a log line
        r"(?<!\w)(?:run|running|execute|executing|paste|fix|fixes|remediat\w*|solution|resolve|repair|workaround|"
        r"recommend\w*|suggest\w*|advis\w*|please)(?!\w)[^\n]{0,80}"
        r"(?<![\w-])(?:curl|wget|irm|iwr|invoke-webrequest)(?!\w)[^|\n]{0,200}\|\s*(?:sudo\s+)?(?:(?:ba|z)?sh|iex|"
        r"python\d?)(?!\w)")),
    ("answer-shaped", re.compile(
        rf"[\"']?(?:suggested_fix|root_cause)[\"']?\s*[:=]"
        rf"|(?<!\w)(?:categor|kategor|catégor|категор|类别|類別|カテゴリ|카테고리|classif|label|report|answer|respond|"
        rf"reply|output|analysis|analyse|verdict|diagnos)[^\n]{{0,60}}?(?<![a-z_])(?:{_CATEGORIES})(?![a-z_])"
        rf"|(?<!\w)(?:summary|root cause|fix|analysis)\s+(?:should|must|has to|needs to)\s+(?:be|say|read|state)(?!\w)"
        rf"|(?<!\w)(?:tell|instruct|advise|ask|urge) (?:the |your |all |our )?(?:team|users?|readers?|everyone|"
        rf"everybody|people|operators?|on-?call|engineers?|developers?|owners?|admins?)(?!\w)[^.\n]{{0,20}}(?<!\w)(?:to|that)(?!\w)")),
)


# Cyrillic and Greek letters that look Latin, and leetspeak digits: "ign\u043ere", "1gn0r3".
# Only for a second reading of the English rules: Russian keeps its own letters in the first one.
_LOOKALIKE = str.maketrans("аеорсухіѕјԁɡοαειντκмн0134578@$", "aeopcyxisjdgoaeivtkmhoieastbas")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_MAX_DECODED = 4  # encoded tokens decoded per string


def _decoded(text: str) -> list[str]:
    """Base64 tokens of `text` that decode to readable text (a model reads those too)."""
    out: list[str] = []
    for m in _BASE64.finditer(text):
        token = m.group(0)
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
            plain = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if sum(ch.isprintable() for ch in plain) >= 0.9 * len(plain) and " " in plain:
            out.append(plain)
        if len(out) >= _MAX_DECODED:
            break
    return out


def scan_text(text: str) -> str | None:
    """The name of the first rule `text` matches, or None."""
    if len(text) > _MAX_SCAN:
        text = text[: _MAX_SCAN // 2] + "\n" + text[-_MAX_SCAN // 2:]
    norm = normalise(text)
    if not norm:
        return None
    if _override(norm):
        return "override of instructions"
    alt = norm.translate(_LOOKALIKE)
    if alt != norm and (_override(alt) or _RULES[1][1].search(alt)):
        return "disguised letters"
    for plain in _decoded(text):
        if scan_text(plain) is not None:
            return "encoded instruction"
    # role markers anchor on line starts: keep the line breaks for that one
    lines = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    for name, pattern in _RULES:
        if pattern.search(lines if name == "role marker" else norm):
            return name
    return None


# --- walking the context -----------------------------------------------------------------------------

def _where(path: tuple[Any, ...], root: dict[str, Any]) -> str:
    if not path:
        return "context"
    top = path[0]
    if top in ("logs", "log_excerpts") and len(path) > 1 and isinstance(path[1], int):
        item = _at(root, path[:2])
        src = item.get("source") or "/".join(str(item.get(k)) for k in ("pod", "container") if item.get(k))
        return f"logs of {src}" if src else "logs"
    if top == "events" and len(path) > 1 and isinstance(path[1], int):
        ev = _at(root, path[:2])
        return f"event {ev.get('reason', '?')} on {ev.get('object', '?')}"
    if top == "signals" and len(path) > 1 and isinstance(path[1], int):
        return f"signal {_at(root, path[:2]).get('reason', '?')}"
    return {"rollout": "rollout status", "change": "pod template change"}.get(str(top), str(top))


def _at(root: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    node = root
    for step in path:
        node = node[step]
    return node if isinstance(node, dict) else {}


def _strings(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], tuple[str, ...]]]:
    """Every string (keys too) with its path; a list of strings also yields its windows of
    consecutive strings (read joined)."""
    if isinstance(node, str):
        yield path, (node,)
    elif isinstance(node, dict):
        for k, v in node.items():
            yield path, (str(k),)
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        texts = [v for v in node if isinstance(v, str)]
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))
        for size in range(2, _JOIN_WINDOW + 1):
            for i in range(0, len(texts) - size + 1):
                yield path, tuple(texts[i: i + size])
    elif node is not None and not isinstance(node, bool | int | float):
        yield path, (str(node),)


def detect(context: dict[str, Any]) -> list[Finding]:
    """Instruction-like text anywhere in the context: at most one finding per (place, rule).
    A single line is preferred to a window of joined lines that contains it."""
    found: dict[tuple[str, str], Finding] = {}
    seen: set[tuple[str, ...]] = set()
    hit_lines: set[str] = set()
    for path, parts in _strings(context, ()):
        if parts in seen or sum(len(p) for p in parts) < 8:
            continue
        seen.add(parts)
        if len(parts) > 1 and any(p in hit_lines for p in parts):
            continue  # already flagged on its own
        rule = scan_text(" ".join(parts))
        if rule is None:
            continue
        if len(parts) == 1:
            hit_lines.add(parts[0])
        where = _where(path, context)
        found.setdefault((where, rule), Finding(rule, where, " ".join(parts), parts))
    return list(found.values())


def flagged_lines(findings: list[Finding]) -> list[str]:
    """The context's strings that carry (part of) instruction-like text, longest first."""
    return sorted({line for f in findings for line in f.lines if len(line) >= 8}, key=len, reverse=True)


def describe(findings: list[Finding], *, limit: int = 3) -> str:
    """Fyr's own words for the flag: how many places, which rules, where (never the attacker's text)."""
    places = sorted({f.where for f in findings})
    rules = sorted({f.rule for f in findings})
    shown = ", ".join(places[:limit]) + (f" and {len(places) - limit} more" if len(places) > limit else "")
    return f"{INJECTION_FLAG}: instruction-like text ({', '.join(rules)}) in {shown}"


__all__ = ["INJECTION_FLAG", "Finding", "describe", "detect", "flagged_lines", "normalise", "scan_text"]
