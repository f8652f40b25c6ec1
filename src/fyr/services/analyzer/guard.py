"""What the model's answer may say, checked against facts the attacker cannot write.

Two checks sit between the model and the team, each independent of the prompt and of detection:

- the category: when the rules reached theirs with high confidence, another category is accepted
  only when the cluster's structured facts (waiting and terminated reasons, event reasons, signal
  kinds: written by the kubelet and the controllers, not by the application) show that category's
  signal AND the answer cites it as evidence (at medium confidence the signal must exist; at low
  the model may infer). A log line that says "ErrImagePull" is not a pull error; a waiting reason
  of ErrImagePull is. Otherwise the rules' category stands and the disagreement is recorded.
- the free text (summary, root cause, fix): no command that downloads and executes, no URL whose
  host is outside the allow-list (the configured GitLab hosts, the cluster's own names and private
  addresses, the registries of the rollout's images, kubernetes.io and the runtimes'
  documentation), no Slack mention syntax. A violating field falls back to the rules' text.

The rules' own text quotes log lines; `harden_rules` makes the same guarantees for it: a quoted
instruction-like line is withheld, a download-and-execute command or a mention is removed, a URL
outside the allow-list is defanged (`hxxps://evil[.]example/…`: readable, never a link).
Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fyr.models.analysis import AnalysisFlag, AnalysisResult, Category, FlagKind
from fyr.services.analyzer.injection import INJECTION_FLAG, Finding, describe, flagged_lines

# Documentation hosts a fix may point to (subdomains included).
DOC_HOSTS: tuple[str, ...] = (
    "kubernetes.io", "k8s.io", "helm.sh", "docs.docker.com", "docs.python.org", "docs.oracle.com", "dev.java",
    "nodejs.org", "go.dev", "pkg.go.dev", "golang.org", "doc.rust-lang.org", "learn.microsoft.com",
    "docs.microsoft.com", "ruby-doc.org", "docs.ruby-lang.org", "php.net", "docs.spring.io",
    "docs.gunicorn.org", "docs.npmjs.com", "containerd.io",
)
_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local", ".local", ".internal")
WITHHELD = "[instruction-like log text withheld: see the evidence]"
REMOVED_COMMAND = "[download-and-execute command removed]"
REMOVED_MENTION = "[mention removed]"
FREE_TEXT_FIELDS = ("summary", "root_cause", "suggested_fix")
_MIN_QUOTE = 24  # characters of a flagged line copied verbatim that count as quoting it


# --- URLs -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UrlPolicy:
    """The hosts Fyr's messages may name: configured GitLab hosts, image registries, docs."""

    hosts: frozenset[str] = field(default_factory=lambda: frozenset(DOC_HOSTS))

    @classmethod
    def build(cls, *, gitlab_hosts: Iterable[str] = (), images: Iterable[str] = (),
              urls: Iterable[str | None] = ()) -> UrlPolicy:
        hosts = set(DOC_HOSTS)
        hosts.update(h.strip().lower() for h in gitlab_hosts if h.strip())
        for url in urls:
            host = _host_of(url) if url else None
            if host:
                hosts.add(host)
        for image in images:
            first = image.split("/", 1)[0].lower()
            if "/" in image and ("." in first or ":" in first or first == "localhost"):
                hosts.add(first.split(":", 1)[0])
        return cls(frozenset(hosts))

    def with_context(self, context: dict[str, Any], *, urls: Iterable[str | None] = ()) -> UrlPolicy:
        """This policy plus the registries of the rollout's images (old and new) and `urls`' hosts
        (the rollout's pipeline and merge request: Fyr's own records, not the application's)."""
        extra = UrlPolicy.build(images=_context_images(context), urls=urls)
        return UrlPolicy(self.hosts | extra.hosts)

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if not host:
            return False
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            pass
        else:
            return ip.is_private or ip.is_loopback
        if "." not in host or host == "localhost" or host.endswith(_CLUSTER_SUFFIXES):
            return True  # a Service name, `svc.ns`, or an in-cluster DNS name
        return any(host == h or host.endswith("." + h) for h in self.hosts)


def _context_images(context: dict[str, Any]) -> list[str]:
    images: list[str] = []
    rollout = context.get("rollout")
    if isinstance(rollout, dict) and isinstance(rollout.get("image"), str):
        images.append(rollout["image"])
    change = context.get("change")
    containers = change.get("containers") if isinstance(change, dict) else None
    for diff in (containers or {}).values() if isinstance(containers, dict) else ():
        image = diff.get("image") if isinstance(diff, dict) else None
        if isinstance(image, dict):
            images.extend(str(v) for v in image.values() if v)
        elif isinstance(image, str):
            images.append(image)
    return images


_URL = re.compile(r"(?<![\w.])(?!hxxps?://)(?:[a-z][a-z0-9+.\-]{1,15}://|www\.)[^\s\"'<>`|)\]}]+", re.IGNORECASE)
_SCRIPT_URI = re.compile(r"(?<![\w])(?:javascript|vbscript|data):[^\s]{4,}", re.IGNORECASE)
# A bare host handed to a network tool: `curl evil.example/x`.
_TOOL_HOST = re.compile(
    r"(?<![\w-])(?:curl|wget|iwr|irm|invoke-webrequest|invoke-restmethod|git\s+clone|helm\s+repo\s+add"
    r"(?:\s+\S+)?|pip\d?\s+install\s+--(?:extra-)?index-url|kubectl\s+(?:apply|create)\s+-f)"
    r"(?:\s+-{1,2}[\w-]+(?:[= ](?!https?:)[^\s-]\S*)?)*\s+([a-z0-9][a-z0-9.-]*\.[a-z]{2,24})(?=[/:\s]|$)",
    re.IGNORECASE)


# A bare domain a reader is sent to ("download it from evil.com/fix.sh", "see evil.com"), or one
# serving a script: Slack links bare domains too. Module paths in stack traces (github.com/x/y.(*T).F)
# are neither and stay readable.
_BARE = re.compile(
    r"(?:(?<!\w)(?:visit|see|open|go to|browse(?: to)?|download(?: it| the \w+)?(?: from)?|fetch(?: it)? from|"
    r"log ?in (?:at|to)|sign in (?:at|to))\s+(?:<)?((?:[a-z0-9-]+\.)+[a-z]{2,24})(?![\w.-]*\()(?=[/:\s>.,;)]|$)"
    r"|(?<![\w@./-])((?:[a-z0-9-]+\.)+[a-z]{2,24})/[^\s`\"']*\.(?:sh|bash|ps1|py|pl|exe|bat|cmd|bin|msi|dmg|apk|jar|"
    r"vbs|hta)(?![\w]))", re.IGNORECASE)


_FILE_EXTENSIONS = frozenset({
    "py", "js", "ts", "go", "rb", "java", "kt", "rs", "c", "h", "cpp", "cs", "php", "json", "yaml", "yml", "toml",
    "ini", "cfg", "conf", "env", "txt", "log", "md", "xml", "html", "sql", "lock", "jar", "war", "sh", "ps1",
    "properties", "gradle"})


def _host_of(url: str) -> str | None:
    text = url if "://" in url else "http://" + url
    try:
        return (urlsplit(text).hostname or "").lower() or None
    except ValueError:
        return None


def bad_urls(text: str, policy: UrlPolicy) -> list[str]:
    """URLs (and hosts handed to a network tool) in `text` whose host the policy does not allow."""
    out: list[str] = []
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        host = _host_of(url)
        if host is None or not policy.allows(host):
            out.append(url)
    out.extend(m.group(0) for m in _SCRIPT_URI.finditer(text))
    for m in _TOOL_HOST.finditer(text):
        if not policy.allows(m.group(1)):
            out.append(m.group(1))
    for m in _BARE.finditer(text):
        host = (m.group(1) or m.group(2)).rstrip(".")
        if host.rsplit(".", 1)[-1].lower() in _FILE_EXTENSIONS and m.group(1):
            continue  # "see main.py": a file, not a host
        if "." in host and not host.replace(".", "").isdigit() and not policy.allows(host):
            out.append(host)
    return out


def defang(url: str) -> str:
    """`https://evil.example/x` -> `hxxps://evil[.]example/x`: still readable, never a link."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    host, slash, path = rest.partition("/")
    scheme = re.sub(r"(?i)^(h)tt(p)", r"\1xx\2", scheme) if scheme else ""
    return (scheme + "://" if scheme else "") + host.replace(".", "[.]") + slash + path


# --- commands, mentions ------------------------------------------------------------------------------

_FETCH = (r"(?:curl|wget|fetch|iwr|irm|invoke-webrequest|invoke-restmethod|aria2c|lwp-download|http(?:ie)?|"
          r"python[\d.]*\s+-m\s+urllib\S*|(?:new-object\s+)?net\.webclient)")
_SHELL = (r"(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+\S*\s*)?(?:/usr)?(?:/bin/)?"
          r"(?:ba|z|k|da|a|c|tc|fi|)sh\b|python[\d.]*|perl|ruby|node|php|pwsh|powershell|iex|"
          r"invoke-expression|source")
_DOWNLOAD_EXEC: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.IGNORECASE) for p in (
    rf"(?<![\w-]){_FETCH}\b[^|\n`]{{0,300}}\|\s*(?:{_SHELL})",                       # curl … | sh
    rf"(?<![\w-])(?:ba|z)?sh\s+(?:-\w+\s+)*[\"']?\$\(\s*{_FETCH}\b[^)\n]{{0,300}}\)",   # sh -c "$(curl …)"
    rf"(?:(?<![\w-])(?:ba|z)?sh|source|(?<!\w)\.)\s+<\(\s*{_FETCH}\b",                 # bash <(curl …)
    rf"(?<!\w)eval\s+[\"']?\$\(\s*{_FETCH}\b",                                          # eval "$(curl …)"
    r"(?<![\w-])(?:iex|invoke-expression)\b[^\n]{0,40}(?:irm|iwr|invoke-restmethod|invoke-webrequest|"
    r"downloadstring|net\.webclient|frombase64string)",                                # iex (irm …)
    r"(?:irm|iwr|invoke-restmethod|invoke-webrequest|downloadstring)\b[^\n]{0,300}\|\s*(?:iex|invoke-expression)",
    r"base64\s+(?:-\w+\s+)*(?:-d|--decode|-D)\b[^\n]{0,300}\|\s*(?:sudo\s+)?(?:(?:ba|z|k|da)?sh|python|perl)\b",
    r"\|\s*base64\s+(?:-d|--decode|-D)\b",                                             # echo … | base64 -d
    r"(?<![\w-])(?:powershell|pwsh)(?:\.exe)?\s+(?:-\w+\s+)*-e(?:nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{16,}",
    rf"(?<![\w-]){_FETCH}\b[^\n`]{{0,300}}(?:&&|;)\s*(?:sudo\s+)?(?:(?:ba|z)?sh\s|chmod\s+\+x|\./)",
    r"(?<![\w-])certutil(?:\.exe)?\s+-urlcache|(?<![\w-])bitsadmin\s+/transfer|(?<![\w-])mshta\s+\S*https?:",
    r"python[\d.]*\s+-c\s+[\"'][^\"'\n]*(?:urllib|urlopen|requests\.get)[^\"'\n]*(?:exec|eval)\(",
))
_MENTION = re.compile(r"<[!@#][^>\s]*>|<!subteam\^[^>]*>|(?<![\w.@])@(?:here|channel|everyone)(?!\w)",
                      re.IGNORECASE)


def download_exec(text: str) -> list[tuple[int, int]]:
    """Spans of download-and-execute commands in `text` (each widened to its whole command)."""
    spans: list[tuple[int, int]] = []
    for pattern in _DOWNLOAD_EXEC:
        for m in pattern.finditer(text):
            spans.append(_widen(text, m.start(), m.end()))
    return _merge(spans)


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """The command around a match: back to a sentence, backtick or line start, on to its end."""
    left = max(text.rfind(c, 0, start) for c in ("`", "\n", ": ", ". ")) + 1
    while left < start and text[left] in " :.":
        left += 1
    stops = [i for i in (text.find(c, end) for c in ("`", "\n", ". ")) if i != -1]
    return left, min(stops) if stops else len(text)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def violations(text: str, policy: UrlPolicy) -> list[str]:
    """Why `text` must not reach the team (empty when it may)."""
    why: list[str] = []
    if download_exec(text):
        why.append("download-and-execute command")
    if bad_urls(text, policy):
        why.append("link outside the allowed hosts")
    if _MENTION.search(text):
        why.append("Slack mention")
    return why


# --- sanitising Fyr's own text (the rules quote log lines) -----------------------------------------

_HOLE = "\ue000"  # a private-use character: what was withheld, until it is written out
_MAX_QUOTE_LINE = 1000  # the rules quote at most 400 characters of a line


def _quote_spans(text: str, line: str) -> list[tuple[int, int]]:
    """Spans of `text` copied verbatim from `line` (at least _MIN_QUOTE characters, or all of a short
    line): anchors every half-anchor along the line, each widened to the longest common run. Linear
    in the text for each distinct anchor (a span found is skipped, never searched again)."""
    if len(line) < _MIN_QUOTE:
        return [(m.start(), m.end()) for m in re.finditer(re.escape(line), text)] if len(line) >= 8 else []
    spans: list[tuple[int, int]] = []
    seen: set[str] = set()
    for i in range(0, len(line) - _MIN_QUOTE + 1, _MIN_QUOTE // 2):
        anchor = line[i: i + _MIN_QUOTE]
        if anchor in seen:
            continue
        seen.add(anchor)
        pos = text.find(anchor)
        while pos != -1:
            a, b = pos, i
            while a > 0 and b > 0 and text[a - 1] == line[b - 1]:
                a, b = a - 1, b - 1
            e, f = pos + _MIN_QUOTE, i + _MIN_QUOTE
            while e < len(text) and f < len(line) and text[e] == line[f]:
                e, f = e + 1, f + 1
            spans.append((a, e))
            pos = text.find(anchor, e)
    return spans


def _withhold_quotes(text: str, lines: Sequence[str]) -> str:
    """Replace every verbatim copy (>= _MIN_QUOTE characters) of a flagged line with WITHHELD."""
    spans: list[tuple[int, int]] = []
    for raw in lines:
        for line in {raw[:_MAX_QUOTE_LINE], " ".join(raw.split())[:_MAX_QUOTE_LINE]}:
            spans.extend(_quote_spans(text, line))
    out, last = [], 0
    for a, e in _merge(spans):
        out.append(text[last:a])
        out.append(_HOLE)
        last = e
    out.append(text[last:])
    held = re.sub(rf"(?<=[^\s{_HOLE}]){_HOLE}", " " + _HOLE, "".join(out).replace(WITHHELD, _HOLE))
    return re.sub(rf"{_HOLE}(?:\W{{0,3}}{_HOLE})*", WITHHELD, held).strip()


def sanitise(text: str, policy: UrlPolicy, flagged: Sequence[str] = ()) -> str:
    """Fyr's own text made safe: quoted instructions withheld, commands and mentions removed, URLs
    outside the allow-list defanged."""
    if flagged:
        text = _withhold_quotes(text, flagged)
    for s, e in reversed(download_exec(text)):
        text = text[:s] + REMOVED_COMMAND + text[e:]
    text = _MENTION.sub(REMOVED_MENTION, text)
    for url in sorted(set(bad_urls(text, policy)), key=len, reverse=True):
        text = text.replace(url, defang(url))
    return text


def _flag(kind: FlagKind, message: str, field_name: str | None = None) -> AnalysisFlag:
    return AnalysisFlag(kind=kind, message=message[:500], field=field_name)


def with_flags(analysis: AnalysisResult, flags: Iterable[AnalysisFlag]) -> AnalysisResult:
    """`analysis` with `flags` added (a flag of the same kind and field is not repeated)."""
    merged = list(analysis.flags)
    keys = {(f.kind, f.field) for f in merged}
    for f in flags:
        if (f.kind, f.field) not in keys:
            merged.append(f)
            keys.add((f.kind, f.field))
    return analysis.model_copy(update={"flags": merged})


def injection_flag(findings: Sequence[Finding], *, reported_by_model: bool = False) -> AnalysisFlag:
    text = describe(list(findings)) if findings else INJECTION_FLAG
    if reported_by_model:
        text = f"{INJECTION_FLAG}: the model reported instruction-like text in the data"
    return _flag(FlagKind.PROMPT_INJECTION, text)


def harden_rules(rules: AnalysisResult, findings: Sequence[Finding], policy: UrlPolicy) -> AnalysisResult:
    """The rules' analysis with its free text sanitised and the injection flagged (evidence kept)."""
    flagged = flagged_lines(list(findings))
    update: dict[str, Any] = {}
    flags: list[AnalysisFlag] = []
    for name in FREE_TEXT_FIELDS:
        before: str = getattr(rules, name)
        after = sanitise(before, policy, flagged)
        if after != before:
            update[name] = after
            if WITHHELD in after or REMOVED_COMMAND in after or REMOVED_MENTION in after:
                flags.append(_flag(FlagKind.OUTPUT_GUARD, f"{name}: instruction-like log text, a command or a "
                                   "mention removed from the quoted log line", name))
    if findings:
        flags.insert(0, injection_flag(findings))
    hardened = rules.model_copy(update=update) if update else rules
    return with_flags(hardened, flags) if flags else hardened


def guard_fields(answer: AnalysisResult, rules: AnalysisResult, policy: UrlPolicy) -> AnalysisResult:
    """The model's free-text fields checked; a violating field becomes the rules' text, flagged."""
    update: dict[str, Any] = {}
    flags: list[AnalysisFlag] = []
    for name in FREE_TEXT_FIELDS:
        why = violations(getattr(answer, name), policy)
        if why:
            update[name] = getattr(rules, name)
            flags.append(_flag(FlagKind.OUTPUT_GUARD,
                               f"{name} replaced by the rules' text: the model's had a {' and a '.join(why)}", name))
    if not update:
        return answer
    return with_flags(answer.model_copy(update=update), flags)


# --- the category against the cluster's facts ---------------------------------------------------------

_PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                           "RegistryUnavailable", "ErrImageInspect", "ImageInspectError", "SignatureValidationFailed"})
_CONFIG_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
_CONFIG_TERMINATED = frozenset({"StartError", "ContainerCannotRun"})
_KIND_CATEGORY = {"pull": Category.IMAGE_PULL, "probe": Category.PROBE_FAILURE, "probe_kill": Category.PROBE_FAILURE,
                  "scheduling": Category.SCHEDULING, "create": Category.CREATE_FAILED, "mount": Category.MOUNT_FAILURE,
                  "deadline": Category.PROGRESS_DEADLINE, "start": Category.CONFIG_ERROR}


@dataclass(frozen=True)
class _Fact:
    category: Category
    cites: tuple[str, ...]  # text an evidence line that cites this fact contains


def _signal_categories(kind: str, reason: str, exit_code: Any) -> set[Category]:
    cats: set[Category] = set()
    if kind in _KIND_CATEGORY:
        cats.add(_KIND_CATEGORY[kind])
    if reason in _PULL_WAITING:
        cats.add(Category.IMAGE_PULL)
    if reason == "OOMKilled" or reason == "OOMKilling":
        cats.add(Category.OOM_KILLED)
    if reason in _CONFIG_WAITING or reason in _CONFIG_TERMINATED:
        cats.add(Category.CONFIG_ERROR)
    if reason == "CrashLoopBackOff" or (kind == "terminated" and reason not in ("OOMKilled", "Completed")
                                        and exit_code not in (0, "0")):
        # a container that keeps exiting: a crash, or a configuration it cannot run with
        cats.update((Category.CRASH_LOOP, Category.CONFIG_ERROR))
    if reason == "ProgressDeadlineExceeded":
        cats.add(Category.PROGRESS_DEADLINE)
    if reason == "FailedScheduling" or reason == "Unschedulable":
        cats.add(Category.SCHEDULING)
    return cats


def cluster_facts(context: dict[str, Any]) -> list[_Fact]:
    """What the kubelet and the controllers reported, as (category, how evidence cites it)."""
    facts: list[_Fact] = []
    for sig in context.get("signals") or []:
        if not isinstance(sig, dict):
            continue
        kind, reason = str(sig.get("kind") or ""), str(sig.get("reason") or "")
        message = str(sig.get("message") or "")
        cites = tuple(c for c in (reason if len(reason) >= 6 and reason not in ("Failed", "Killing", "Error") else "",
                                  message[:40].strip()) if c)
        for cat in _signal_categories(kind, reason, sig.get("exit_code")):
            facts.append(_Fact(cat, cites))
    rollout = context.get("rollout") if isinstance(context.get("rollout"), dict) else {}
    reason = str((rollout or {}).get("reason") or "")
    for cat in _signal_categories("", reason, None):
        facts.append(_Fact(cat, (reason,)))
    return facts


def category_check(rules: AnalysisResult, category: Category, evidence: Sequence[str],
                   context: dict[str, Any]) -> AnalysisFlag | None:
    """None when the model's category may stand; else the flag recording the disagreement.

    Rules at high confidence: another category needs the cluster's signal of it, cited in the
    evidence. At medium: the signal must exist. At low (the rules found nothing specific) the
    model may infer a category from the logs.
    """
    if category == rules.category or rules.confidence == "low":
        return None
    supporting = [f for f in cluster_facts(context) if f.category == category]
    cited = any(c.casefold() in e.casefold() for f in supporting for c in f.cites for e in evidence)
    if supporting and (cited or rules.confidence != "high"):
        return None
    why = ("the cluster shows no signal of it" if not supporting
           else "its evidence cites none of the cluster's signals of it")
    return _flag(FlagKind.CATEGORY_KEPT,
                 f"the model said {category.value}, but {why}: the rules' {rules.category.value} "
                 f"({rules.confidence} confidence) stands", "category")


__all__ = ["DOC_HOSTS", "REMOVED_COMMAND", "WITHHELD", "UrlPolicy", "bad_urls", "category_check", "cluster_facts",
           "defang", "download_exec", "guard_fields", "harden_rules", "injection_flag", "sanitise", "violations",
           "with_flags"]
