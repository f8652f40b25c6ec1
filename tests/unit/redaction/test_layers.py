"""Each redaction layer alone, then all of them together on every leaking class of the issue."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from fyr.core.redaction import MASK, Literals, SecretLeak, check_clean, encodings, leaks, normalise, redact_text
from fyr.core.redaction.keys import is_credential_key, is_evidence, looks_random, split_words
from fyr.core.redaction.rules import LINE_RULES
from fyr.core.redaction.shapes import SHAPES
from tests.unit.redaction.samples import SAMPLES

pytestmark = pytest.mark.timeout(30)
_RULES = {r.name: r for r in LINE_RULES}


@pytest.mark.parametrize(("cls", "line", "secret"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_every_leaking_class_is_masked(cls: str, line: str, secret: str) -> None:
    out = redact_text(line)
    assert secret not in out and MASK in out


# --- layer 1: shapes ----------------------------------------------------------------------------------
VENDOR = {"stripe", "stripe_restricted", "stripe_webhook", "twilio_key", "sendgrid", "npm", "pypi", "vault",
          "shopify", "huggingface", "aws", "jwt", "private_key_body"}


@pytest.mark.parametrize(("cls", "line", "secret"), [s for s in SAMPLES if s[0] in VENDOR],
                         ids=[s[0] for s in SAMPLES if s[0] in VENDOR])
def test_the_shape_layer_alone_masks_vendor_tokens_with_no_key_around_them(cls: str, line: str, secret: str) -> None:
    out = _RULES["shape"].apply(line, None)
    assert secret not in out


def test_shape_table_covers_the_vendors_detect_secrets_gitleaks_and_github_share() -> None:
    vendors = {s.vendor for s in SHAPES}
    shared = {"aws", "gitlab", "slack", "slack_webhook", "openai_anthropic", "stripe", "github", "google_api", "jwt",
              "twilio", "sendgrid", "npm", "pypi", "vault", "shopify", "huggingface", "artifactory", "azure_storage",
              "discord_bot", "mailchimp", "square", "telegram_bot", "digitalocean", "databricks", "mailgun",
              "grafana", "newrelic", "linear", "postman", "doppler", "dockerhub", "age", "atlassian", "pulumi",
              "private_key_body"}
    assert shared <= vendors


def test_masks_keep_the_prefix_so_a_reader_sees_which_credential_it_was() -> None:
    assert redact_text("k sk_live_4eC39HqLyjWDarjtT1zdp7dc") == "k sk_live_****"
    assert redact_text("t glpat-x9Yz8Wv7Ut6Sr5Qp4On3 x") == "t glpat-**** x"
    assert redact_text("postgres://app:pw12345@db/x") == "postgres://app:****@db/x"


# --- layer 2: credential context -------------------------------------------------------------------
@pytest.mark.parametrize("key", ["password", "dbPassword", "db_password", "db-password", "DB_PASSWORD", "accessToken",
                                 "refreshToken", "adminPassword", "bindPassword", "x-api-key", "X-Auth-Token",
                                 "_authToken", "client_secret", "MYSQL_PWD", "DB_PW", "pass", "auth", "sessionid",
                                 "JSESSIONID", "dd_app_key", "AccountKey", "sentry.dsn", "aws_secret_access_key",
                                 "dbpassword", "accesstoken", "privateKey", "signature", "sig", "apikey", "Cookie"])
def test_credential_keys_in_every_case_style(key: str) -> None:
    assert is_credential_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "token_count", "tokens_in", "password_file", "secret_name", "auth_url",
                                 "cache_key", "primary_key", "keys", "author", "bypass", "passed", "token_type",
                                 "session_timeout", "secretKeyRef", "access_key_id", "monkey", "passage", "key"])
def test_words_about_a_credential_are_not_credential_keys(key: str) -> None:
    assert not is_credential_key(key)


def test_bare_key_is_a_credential_in_a_query_string_only() -> None:
    assert is_credential_key("key", in_query=True)
    assert redact_text("GET /healthz?key=Pr0beK3y9") == "GET /healthz?key=****"
    assert redact_text("cache hit key=user:42") == "cache hit key=user:42"


def test_split_words_handles_every_case_style() -> None:
    assert split_words("dbPassword") == ["db", "password"]
    assert split_words("X-Api-Key") == ["x", "api", "key"]
    assert split_words("spring.datasource.password") == ["spring", "datasource", "password"]
    assert split_words("HTTPAuthToken") == ["http", "auth", "token"]


def test_yaml_block_scalar_under_a_credential_key_is_masked_to_its_end() -> None:
    text = "db:\n  password: |\n    line-one-Secret\n    line-two-Secret\n  host: db\n"
    out = redact_text(text)
    assert "Secret" not in out and "  host: db" in out


def test_base64_private_key_body_over_several_lines_without_pem_header() -> None:
    body = base64.b64encode(b"\x30\x82\x04\xbd\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05"
                            b"\x00\x04\x82\x04\xa7" + bytes(range(200))).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    out = redact_text("key:\n" + "\n".join(lines) + "\nnext line")
    assert all(line not in out for line in lines) and out.endswith("next line")


# --- layer 3: entropy and the allow-list --------------------------------------------------------------
EVIDENCE = ["sha256:0d5f7c2b8e1a4f6d9c3b2a1e0f9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b",
            "8f3a2b1c9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a", "8f3a2b1", "shop-api-7d9f8c6b5d-x2x9z",
            "123e4567-e89b-12d3-a456-426614174000", "10.42.0.17:8080", "fe80::1ff:fe23:4567:890a",
            "/var/run/secrets/kubernetes.io/serviceaccount/token", "app/handlers/orders.py:42",
            "com.acme.shop.OrderService", "registry.acme.io/shop/api:2.4.0", "2026-11-27T10:00:00.123Z",
            "v1.29.3-gke.1"]


@pytest.mark.parametrize("value", EVIDENCE)
def test_evidence_is_allow_listed_and_never_judged_random(value: str) -> None:
    assert is_evidence(value)
    assert not looks_random(value)
    line = f"the token is {value}"
    assert redact_text(line) == line


def test_random_value_after_a_credential_word_is_masked() -> None:
    assert looks_random("8fK2mQ9xR4tL7wZ3")
    assert redact_text("using secret key 8fK2mQ9xR4tL7wZ3 for hmac") == "using secret key **** for hmac"
    assert redact_text("token expired for user alice") == "token expired for user alice"


# --- layer 4: known values in every encoding ----------------------------------------------------------
def test_known_values_are_masked_raw_base64_url_encoded_and_json_escaped() -> None:
    secret = 'Tr0ub4dor&3"x'
    lits = Literals([secret])
    forms = [secret, base64.b64encode(secret.encode()).decode(), quote(secret, safe=""), json.dumps(secret)[1:-1]]
    assert set(forms) - {f + "=" for f in forms} <= encodings(secret) | {forms[1]}
    for form in forms:
        assert form not in lits.mask(f"log: value {form} seen", MASK)


def test_one_automaton_for_thousands_of_values_masks_overlaps_once() -> None:
    values = [f"secret-value-{i:05d}" for i in range(3000)]
    lits = Literals(values)
    text = "a secret-value-00042 b secret-value-02999secret-value-00001 c"
    assert lits.mask(text, MASK) == "a **** b **** c"


# --- normalising and the last check ------------------------------------------------------------------
def test_ansi_and_printed_escapes_are_stripped_before_matching() -> None:
    assert normalise("\x1b[36mpassword\x1b[0m=x\r") == "password=x"
    assert normalise("password\\x1b[0m=x \\u001b[1mok") == "password=x ok"
    assert normalise("a\\u003db\\u0026c") == "a=b&c"


def test_check_fails_closed_on_shapes_and_known_values_and_never_on_prose() -> None:
    lits = Literals(["s3cr3tDbPw"])
    with pytest.raises(SecretLeak, match="stripe") as exc:
        check_clean({"a": ["ok", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"]}, where="out", literals=lits)
    assert "4eC39" not in str(exc.value)
    with pytest.raises(SecretLeak, match="known_value"):
        check_clean({"a": "x s3cr3tDbPw"}, where="out", literals=lits)
    with pytest.raises(SecretLeak, match="url_password"):
        check_clean("postgres://app:hunter22@db/x", where="out")
    prose = ["credentials: check the service address", "Secret: not found", "password: see the Secret db-creds",
             "postgres://app:****@db/x", "sk_live_****", "token: ****"]
    check_clean(prose, where="out", literals=lits)
    assert all(leaks(p, lits) == [] for p in prose)


EVIDENCE_LINES = [
    'Error: secret "db-credentials" not found',
    "Access denied for user 'root'@'10.0.0.3' (using password: YES)",
    "KeyError: 'DATABASE_PASSWORD'",
    'FATAL:  password authentication failed for user "app"',
    "couldn't find key api-token in Secret shop/shop-secrets",
    "token_count=12 tokenizer=cl100k_base max_tokens=4000",
    "Back-off pulling image \"registry.acme.io/shop/api@sha256:"
    "0d5f7c2b8e1a4f6d9c3b2a1e0f9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b\"",
    "MountVolume.SetUp failed for volume \"creds\" : secret \"db-creds\" not found",
    '{"ts":"2026-11-27T10:00:00Z","keys":2938,"trace":"a6eb8c9ebd69fe29d76d4330f1446bea"}',
    "commit 8f3a2b1c9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a by alice, request 123e4567-e89b-12d3-a456-426614174000",
    'File "/app/shop/db.py", line 41, in connect',
]


@pytest.mark.parametrize("line", EVIDENCE_LINES)
def test_evidence_lines_are_left_intact(line: str) -> None:
    assert redact_text(line) == line


def test_a_pem_block_is_masked_line_by_line_so_the_log_keeps_its_line_numbers() -> None:
    text = ("start\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Z\nQ29uZmlk\n-----END RSA PRIVATE KEY-----\n"
            "FATAL x")
    out = redact_text(text)
    assert out.count("\n") == text.count("\n") and "MIIEow" not in out and out.endswith("\nFATAL x")
