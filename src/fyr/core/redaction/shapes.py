"""Layer 1 of redaction: credentials whose shape alone says what they are.

A vendor token carries a documented prefix (`glpat-`, `sk_live_`, `hvs.`) or a fixed structure
(`SG.<22>.<43>`, a JWT, a Telegram bot token), so it is masked wherever it appears, with no key
around it. The table covers every vendor that detect-secrets' plugins, gitleaks' rules and GitHub
secret scanning share, plus the ones the rollout logs Fyr reads are known to carry; a unit test runs
detect-secrets over one sample of each and checks that whatever it flags, this table masks.

Each entry is a Python pattern whose group `keep` is shown (the prefix, so a reader still sees
*which* credential was there: `sk_live_****`) and a necessary condition for RE2 (no look-arounds),
used to find candidate lines in one pass over a whole log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SHAPES", "Shape", "shapes_pattern"]


@dataclass(frozen=True)
class Shape:
    vendor: str
    pattern: str  # Python regex; group `keep` is the part left visible (may be empty)
    condition: str  # RE2 regex (bytes-compatible), a superset of what `pattern` matches


def _s(vendor: str, keep: str, rest: str, condition: str | None = None) -> Shape:
    return Shape(vendor, f"(?P<keep>{keep}){rest}", condition if condition is not None else keep)


_B = r"(?![A-Za-z0-9])"  # the token ends here (no letter or digit glued to it)

SHAPES: tuple[Shape, ...] = (
    _s("aws", r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9]|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)", rf"[A-Z0-9]{{16}}{_B}",
       r"AKIA|ASIA|ABIA|ACCA|A3T|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA"),
    _s("gitlab", r"gl(?:pat|dt|rt|rtr|ptt|ft|imt|agent|oas|soat|cbt|ffct|wt|sa)-", r"[0-9A-Za-z_.\-]{16,}",
       r"gl(?:pat|dt|rt|rtr|ptt|ft|imt|agent|oas|soat|cbt|ffct|wt|sa)-"),
    _s("gitlab_runner_registration", "GR1348941", r"[0-9A-Za-z_\-]{16,}"),
    _s("slack", r"xox[abposer]-", r"[0-9A-Za-z\-]{10,}", r"xox[abposer]-"),
    _s("slack_app", r"xapp-", r"[0-9A-Za-z\-]{10,}"),
    _s("slack_webhook", r"https://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/", r"[A-Za-z0-9/_\-]+",
       r"hooks\.slack"),
    _s("discord_webhook", r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/", r"[0-9]+/[A-Za-z0-9_\-]+",
       r"/api/webhooks/"),
    _s("teams_webhook", r"https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/", r"[^\s\"'<>]+", r"webhook\.office"),
    _s("openai_anthropic", r"sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-|admin\d\d-)?)?", r"[A-Za-z0-9_\-]{20,}",
       r"sk-"),
    _s("stripe", r"(?:sk|rk)_(?:live|test)_", rf"[0-9A-Za-z]{{10,}}{_B}", r"k_(?:live|test)_"),
    _s("stripe_webhook", r"whsec_", r"[0-9A-Za-z+/=]{20,}"),
    _s("github", r"gh[pousr]_", r"[A-Za-z0-9_]{30,}", r"gh[pousr]_"),
    _s("github_fine_grained", r"github_pat_", r"[A-Za-z0-9_]{22,}"),
    _s("google_api", r"AIza", r"[0-9A-Za-z_\-]{35}"),
    _s("google_oauth", r"ya29\.", r"[0-9A-Za-z_\-]{20,}", r"ya29\."),
    _s("google_oauth_client_secret", r"GOCSPX-", r"[0-9A-Za-z_\-]{20,}"),
    _s("jwt", r"eyJ", r"[A-Za-z0-9_\-=]{5,}\.[A-Za-z0-9_\-=]{5,}\.?[A-Za-z0-9_\-.+/=]*", r"eyJ"),
    _s("twilio", r"(?<![A-Za-z0-9])(?:SK|AC)", rf"[a-z0-9]{{32}}{_B}", r"(?:SK|AC)[a-z0-9]{32}"),
    _s("sendgrid", r"SG\.", r"[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", r"SG\."),
    _s("npm", r"npm_", r"[A-Za-z0-9]{36}"),
    _s("pypi", r"pypi-", r"AgE[A-Za-z0-9_\-]{50,}", r"pypi-AgE"),
    _s("vault", r"hv[sbr]\.", r"[A-Za-z0-9_\-]{20,}", r"hv[sbr]\."),
    _s("shopify", r"shp(?:at|ss|ca|pa)_", r"[a-fA-F0-9]{32}", r"shp(?:at|ss|ca|pa)_"),
    _s("huggingface", r"hf_", rf"[A-Za-z0-9]{{30,}}{_B}"),
    _s("artifactory", r"(?<![A-Za-z0-9])AKC", rf"[a-zA-Z0-9]{{10,}}{_B}", r"AKC[a-zA-Z0-9]{10}"),
    _s("artifactory_password", r"(?:(?<=[\s=:\"])|^)AP[\dABCDEF]", r"[a-zA-Z0-9]{8,}(?=[\s\"]|$)",
       r"AP[0-9A-F][a-zA-Z0-9]{8}"),
    _s("azure_storage", r"AccountKey=", r"[a-zA-Z0-9+/=]{20,}"),
    _s("discord_bot", "", r"(?<![A-Za-z0-9_\-])[MNO][a-zA-Z\d_\-]{23,25}\.[a-zA-Z\d_\-]{6}\.[a-zA-Z\d_\-]{27}",
       r"[MNO][a-zA-Z0-9_\-]{23,25}\.[a-zA-Z0-9_\-]{6}\."),
    _s("mailchimp", "", r"(?<![A-Za-z0-9])[0-9a-z]{32}-us[0-9]{1,2}" + _B, r"[0-9a-z]{32}-us[0-9]"),
    _s("square", r"sq0(?:csp|atp|idp)-", r"[0-9A-Za-z\\\-_]{22,}", r"sq0(?:csp|atp|idp)-"),
    _s("telegram_bot", "", r"(?<![0-9])[0-9]{8,10}:[0-9A-Za-z_\-]{35}" + _B, r"[0-9]{8,10}:[0-9A-Za-z_\-]{35}"),
    _s("digitalocean", r"do[opr]_v1_", r"[a-f0-9]{64}", r"do[opr]_v1_"),
    _s("databricks", r"(?<![A-Za-z0-9])dapi", rf"[a-f0-9]{{32}}{_B}", r"dapi[a-f0-9]{32}"),
    _s("mailgun", r"(?<![A-Za-z0-9])key-", rf"[0-9a-f]{{32}}{_B}", r"key-[0-9a-f]{32}"),
    _s("grafana", r"(?:glsa_|glc_)", r"[A-Za-z0-9_=+/\-]{32,}", r"gl(?:sa|c)_"),
    _s("newrelic", r"NR(?:AK|II|JS)-", r"[A-Za-z0-9]{27}", r"NR(?:AK|II|JS)-"),
    _s("linear", r"lin_api_", r"[A-Za-z0-9]{40}"),
    _s("postman", r"PMAK-", r"[a-f0-9]{24}-[a-f0-9]{34}"),
    _s("doppler", r"dp\.(?:st|sa|ct|scim|audit|pt)\.", r"[A-Za-z0-9_\-]{40,}", r"dp\.(?:st|sa|ct|scim|audit|pt)\."),
    _s("dockerhub", r"dckr_pat_", r"[A-Za-z0-9_\-]{20,}"),
    _s("age", r"AGE-SECRET-KEY-1", r"[0-9A-Z]{58}"),
    _s("atlassian", r"ATATT3", r"[A-Za-z0-9_\-=]{20,}"),
    _s("pulumi", r"pul-", r"[a-f0-9]{40}"),
    _s("planetscale", r"pscale_(?:tkn|pw|oauth)_", r"[A-Za-z0-9_.\-]{32,}", r"pscale_(?:tkn|pw|oauth)_"),
    _s("rubygems", r"rubygems_", r"[a-f0-9]{48}"),
    _s("nuget", r"(?<![A-Za-z0-9])oy2", r"[a-z0-9]{43}", r"oy2[a-z0-9]{43}"),
    _s("sendinblue", r"xkeysib-", r"[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    _s("notion", r"(?:ntn_|secret_)", r"[A-Za-z0-9]{40,}", r"(?:ntn|secret)_[A-Za-z0-9]{40}"),
    _s("supabase", r"sbp_", r"[a-f0-9]{40}"),
    _s("alibaba", r"(?<![A-Za-z0-9])LTAI", rf"[A-Za-z0-9]{{20}}{_B}", r"LTAI[A-Za-z0-9]{20}"),
    _s("dynatrace", r"dt0c01\.", r"[A-Z0-9]{24}\.[A-Z0-9]{64}", r"dt0c01\."),
    _s("terraform_cloud", "", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,}", r"\.atlasv1\."),
    _s("flyio", r"fo1_", r"[A-Za-z0-9_\-]{40,}"),
    _s("clojars", r"CLOJARS_", r"[a-z0-9]{60}"),
    # a DER private key in base64 with no PEM armour (PKCS#1 RSA, PKCS#8, SEC1 EC, Ed25519, OpenSSH)
    _s("private_key_body", "",
       r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{3}IBA(?:AKC|DANBgkqhkiG9w0BAQEFAAS)|MHcCAQEE|MC4CAQAwBQYDK2VwBCIE"
       r"|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/=]{16,}",
       r"IBAAKC|IBADANBgkqhkiG9w0BAQEFAAS|MHcCAQEE|MC4CAQAwBQYDK2VwBCIE|b3BlbnNzaC1rZXktdjE"),
)


def shapes_pattern() -> re.Pattern[str]:
    """One alternation of every shape; `m.lastgroup` names the vendor (`keep` is the kept prefix)."""
    parts = []
    for i, shape in enumerate(SHAPES):
        parts.append(f"(?P<v{i}>{shape.pattern.replace('(?P<keep>', f'(?P<k{i}>')})")
    return re.compile("|".join(parts))
