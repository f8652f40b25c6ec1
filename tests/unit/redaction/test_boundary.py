"""The boundary: a bundle is redacted once on entry into a RedactedBundle, and only checked afterwards.

Pod-spec values (env values, the argument after a credential flag, a probe's query value) are masked
wherever and however the logs and events print them; Fyr's own prose is never masked; a colour code
inside a secret does not rejoin it; the env diff still sees which values changed.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fyr.core.redaction import MASK
from fyr.models.analysis import AnalysisResult, Category
from fyr.models.bundle import parse_bundle
from fyr.services.analyzer.logs import digest_log
from fyr.services.analyzer.pipeline import analyze_bundle, render_output
from fyr.services.analyzer.redaction import RedactedBundle, redact_bundle
from tests.corpus.builders import Rollout, container, crashloop, template
from tests.unit.redaction.samples import SAMPLES

pytestmark = pytest.mark.timeout(60)

MYSQL_PWD = "Tr0ub4dor&3"
DB_PW = "s3cr3tDbPw"
API_TOKEN = "7fGh2kLm9QwErTy"
PROBE_KEY = "Pr0beK3yValue"


def _bundle(log: str, *, old_pw: str = DB_PW) -> dict[str, Any]:
    env = [{"name": "MYSQL_PWD", "value": MYSQL_PWD}, {"name": "DB_PW", "value": DB_PW},
           {"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_HOST", "value": "shop-db:3306"}]
    probe = {"httpGet": {"path": f"/healthz?key={PROBE_KEY}", "port": 8080}, "periodSeconds": 5}
    new = template("shop", [container("app", "acme/shop:2.0", env=env, args=["--api-token", API_TOKEN, "--v=2"],
                                      livenessProbe=probe)])
    old_env = [{**e, "value": old_pw} if e["name"] == "DB_PW" else e for e in env]
    old = template("shop", [container("app", "acme/shop:1.9", env=old_env, args=["--api-token", API_TOKEN, "--v=2"],
                                      livenessProbe=probe)])
    r = Rollout("shop", "prod", new, old)
    pod = r.pod(0, statuses=[crashloop("app", "acme/shop:2.0", restarts=4)])
    r.log(pod, "app", log, previous=True)
    r.event(pod, "Unhealthy", f'Liveness probe failed: Get "http://10.0.0.5:8080/healthz?key={PROBE_KEY}": EOF',
            count=7)
    return r.bundle()


def _forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode().rstrip("="), quote(value, safe=""),
            json.dumps(value)[1:-1]]


LEAKY_LOG = "\n".join([
    "starting shop 2.0, connecting to shop-db:3306 with log level info",
    f"config: mysql pwd {MYSQL_PWD} (b64 {base64.b64encode(MYSQL_PWD.encode()).decode()})",
    f"dsn url-encoded user=app&pw={quote(MYSQL_PWD, safe='')}",
    f'{{"msg":"db auth","secret":"{DB_PW}","x":"{json.dumps(MYSQL_PWD)[1:-1]}"}}',
    f"flags parsed: token {API_TOKEN}",
    "\x1b[36mpassword\x1b[0m=C0lour3dPw ok",
    *[line for _, line, _ in SAMPLES if "\n" not in line],
    f"FATAL: cannot connect to mysql with password {MYSQL_PWD}: Access denied for user 'app'",
]) + "\n"
SECRETS = [*_forms(MYSQL_PWD), *_forms(DB_PW), API_TOKEN, PROBE_KEY, "C0lour3dPw",
           *[s for _, line, s in SAMPLES if "\n" not in line]]


def test_a_redacted_bundle_cannot_be_made_by_hand() -> None:
    raw = parse_bundle(_bundle("x\n"))
    with pytest.raises(TypeError):
        RedactedBundle(raw, None, 0)  # type: ignore[arg-type]


def test_pod_spec_values_and_every_class_are_masked_in_every_encoding_everywhere() -> None:
    raw = parse_bundle(_bundle(LEAKY_LOG))
    redacted = redact_bundle(raw)
    dumped = json.dumps(redacted.bundle.to_json_dict(), ensure_ascii=False)
    result = analyze_bundle(raw)
    out = json.dumps(render_output(result, result.rules, duration_s=0.0), ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in dumped, secret
        assert secret not in out, secret
    # evidence kept: the decisive line (masked inside), the probe failure, the hosts
    assert "Access denied for user 'app'" in out and "Liveness probe failed" in out
    assert "connecting to shop-db:3306 with log level info" in redacted.logs[0].text  # plain env values stay


def test_the_env_diff_still_tells_a_changed_value_without_showing_it() -> None:
    changed = analyze_bundle(parse_bundle(_bundle("boom\n", old_pw="0ldDbPassw0rd")))
    same = analyze_bundle(parse_bundle(_bundle("boom\n")))
    diff = json.dumps(changed.reduced_context["change"])
    assert "DB_PW" in diff and "0ldDbPassw0rd" not in diff and DB_PW not in diff
    assert "DB_PW" not in json.dumps(same.reduced_context["change"])


def test_fyr_own_prose_is_never_masked() -> None:
    result = analyze_bundle(parse_bundle(_bundle("boom\n")))
    prose = AnalysisResult(
        category=Category.CONFIG_ERROR, summary="credentials: check the service address",
        root_cause="Secret: not found. password: see the Secret db-creds; token: rotate it",
        evidence=["prod/shop: Secret: not found"], suggested_fix="credentials: check the service address",
        confidence="high", model_name="rules", prompt_version="analysis-v1")
    out = render_output(result, prose, duration_s=0.0)
    assert out["analysis"]["summary"] == "credentials: check the service address"
    assert out["analysis"]["root_cause"] == "Secret: not found. password: see the Secret db-creds; token: rotate it"


def test_a_coloured_secret_in_the_decisive_line_reaches_neither_context_nor_analysis() -> None:
    log = "boot\n\x1b[31mFATAL\x1b[0m db login failed \x1b[36mpassword\x1b[0m=C0lour3dPw9 for app\n"
    result = analyze_bundle(parse_bundle(_bundle(log)))
    text = json.dumps([result.reduced_context, result.rules.model_dump(mode="json")])
    assert "C0lour3dPw9" not in text and "db login failed" in text


# --- property: masking keeps lines within budget and never removes a decisive line --------------------
_SECRET_LINES = st.sampled_from([line for _, line, _ in SAMPLES if "\n" not in line])
_DECISIVE = st.sampled_from(["FATAL: cannot start", "panic: runtime error: index out of range",
                             "Traceback (most recent call last):", "OOMKilled", "ERROR connection refused"])
_NOISE = st.sampled_from(["INFO request ok", "GET /api/v1/orders 200", "DEBUG cache warm", ""])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_SECRET_LINES, _NOISE, st.tuples(_DECISIVE, _SECRET_LINES).map(" ".join)),
                min_size=1, max_size=40), st.integers(min_value=400, max_value=3000))
def test_masking_never_grows_past_the_budget_nor_removes_a_decisive_line(lines: list[str], budget: int) -> None:
    text = "\n".join(lines) + "\n"
    raw = parse_bundle(_bundle(text))
    redacted = redact_bundle(raw)
    before = digest_log(normalise_for_digest(text), source="x")
    after = digest_log(redacted.logs[0].text, source="x")
    assert [(b.line_no, b.kind) for b in after.decisive] == [(b.line_no, b.kind) for b in before.decisive]
    assert after.total_lines == before.total_lines
    for raw_line, line in zip(normalise_for_digest(text).split("\n"), redacted.logs[0].text.split("\n"),
                              strict=True):
        assert len(line) <= max(len(raw_line), 2 * len(MASK) + 8) + len(MASK) * line.count(MASK)
    result = analyze_bundle(redacted, context_tokens=budget)
    assert result.context_tokens <= budget
    for log in result.reduced_context.get("logs", []):
        for block in log.get("decisive", []):
            assert len(block["line"]) <= 2000  # the line budget of the top decisive line
    out = json.dumps(result.reduced_context)
    assert not any(s in out for s in SECRETS)


def normalise_for_digest(text: str) -> str:
    from fyr.core.redaction import normalise

    return normalise(text)


def test_an_object_field_named_as_a_credential_is_masked_whatever_its_value() -> None:
    raw = _bundle("x\n")
    raw["deployment"]["metadata"].setdefault("annotations", {})["ci.acme.io/deploy-token"] = "plainvalue42"
    out = json.dumps(redact_bundle(parse_bundle(raw)).bundle.to_json_dict())
    assert "plainvalue42" not in out and "ci.acme.io/deploy-token" in out
