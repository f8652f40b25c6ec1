"""Nothing secret leaves: every secret kind is masked with its shape kept, ordinary log text is untouched."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fyr.core.redaction.engine import redact_unfiltered
from fyr.services.analyzer.redaction import (
    MASK,
    find_secrets,
    redact_k8s_object,
    redact_text,
)

pytestmark = pytest.mark.timeout(30)

# (text, secret that must disappear, masked shape that must appear)
CASES = [
    ("dsn postgres://app:s3cr3t-pw@db:5432/shop?sslmode=require", "s3cr3t-pw", "postgres://app:****@db:5432/shop"),
    ("mongodb+srv://svc:Zx9!pq@cluster0.mongo.net/db", "Zx9!pq", "mongodb+srv://svc:****@cluster0"),
    ("REDIS_URL=redis://:hunter2hunter@redis:6379/0", "hunter2hunter", "redis://:****@redis:6379/0"),
    ("Server=db;User Id=sa;Password=Pa55w0rd!;Database=shop", "Pa55w0rd!", "Password=****;Database=shop"),
    ("GET / Authorization: Bearer abc123def456ghi789", "abc123def456ghi789", "Authorization: Bearer ****"),
    ("calling api with bearer ya1.b2-c3_d4e5f6g7", "ya1.b2-c3_d4e5f6g7", "bearer ****"),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='", "dXNlcjpwYXNzd29yZA==", "Authorization: Basic ****"),
    ("aws key AKIAIOSFODNN7EXAMPLE loaded", "AKIAIOSFODNN7EXAMPLE", "AKIA****"),
    ("temp creds ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", "ASIA****"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_access_key=****"),
    ("gcp key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "AIza****"),
    ("oauth ya29.a0AfH6SMBx7rYz_abcdefghijklmnop", "ya29.a0AfH6SMBx7rYz_abcdefghijklmnop", "ya29.****"),
    ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=q1w2e3r4t5y6u7i8o9p0+/ab==;EndpointSuffix=x",
     "q1w2e3r4t5y6u7i8o9p0+/ab==", "AccountKey=****;"),
    ("https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig=AbCdEf0123456789%2Bxyz&se=2030",
     "AbCdEf0123456789%2Bxyz", "sig=****&se=2030"),
    ("azure client_secret: 8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789", "8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789",
     "client_secret: ****"),
    ("push with glpat-AbCdEfGhIjKlMnOpQrSt", "glpat-AbCdEfGhIjKlMnOpQrSt", "glpat-****"),
    ("deploy token gldt-AbCdEfGhIjKlMnOpQrSt", "gldt-AbCdEfGhIjKlMnOpQrSt", "gldt-****"),
    ("runner glrt-t1_AbCdEfGhIjKlMnOpQrSt", "glrt-t1_AbCdEfGhIjKlMnOpQrSt", "glrt-****"),
    ("slack xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
     "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-****"),
    ("user xoxp-1234567890-1234567890-1234567890123-abcdef", "xoxp-1234567890-1234567890-1234567890123-abcdef",
     "xoxp-****"),
    ("socket xapp-1-A0123456789-1234567890123-abcdef0123456789", "xapp-1-A0123456789-1234567890123-abcdef0123456789",
     "xapp-****"),
    ("posting to https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx",
     "T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx", "https://hooks.slack.com/services/****"),
    ("OPENAI_KEY sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD", "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
     "sk-****"),
    ("key sk-proj-abcdefghijklmnopqrstuvwxyz_0123456789", "sk-proj-abcdefghijklmnopqrstuvwxyz_0123456789",
     "sk-proj-****"),
    ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_****"),
    ("fine github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF", "github_pat_****"),
    ("session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "eyJ****"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Z\nQ29uZmlk\n-----END RSA PRIVATE KEY-----\nnext",
     "MIIEowIBAAKCAQEAx4Z", "-----BEGIN RSA PRIVATE KEY-----\n****\n****\n-----END RSA PRIVATE KEY-----\nnext"),
    ('{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}',
     "MIIEvQIBADANBg", "-----BEGIN PRIVATE KEY-----****-----END PRIVATE KEY-----"),
    ('{"user": "bob", "password": "hunter2!", "api_key": "k-123"}', "hunter2!", '"password": "****"'),
    ("db:\n  host: db\n  password: correct-horse\n", "correct-horse", "  password: ****\n"),
    ("DB_PASSWORD=correct-horse-battery", "correct-horse-battery", "DB_PASSWORD=****"),
    ("export SECRET_KEY='abc def ghi'", "abc def ghi", "SECRET_KEY='****'"),
    ("GET /callback?code=1&token=abc123xyz&state=ok", "abc123xyz", "token=****&state=ok"),
    ("X-Api-Key: 9f8e7d6c5b4a", "9f8e7d6c5b4a", "X-Api-Key: ****"),
    ("starting with --db-password=topsecret99 --port 80", "topsecret99", "--db-password=**** --port 80"),
    ("args: -basic-auth=admin:pa55 --token-file=/run/t --v=2", "admin:pa55", "-basic-auth=**** --token-file=****"),
]


@pytest.mark.parametrize(("text", "secret", "shape"), CASES, ids=[c[2][:24] for c in CASES])
def test_each_secret_kind_is_masked_with_its_shape_kept(text: str, secret: str, shape: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert shape in out
    assert MASK in out


@pytest.mark.parametrize(("text", "secret", "shape"), CASES, ids=[c[2][:24] for c in CASES])
def test_find_secrets_reports_what_redaction_masks(text: str, secret: str, shape: str) -> None:
    found = find_secrets(text)
    assert any(secret in f for f in found)
    assert all(f not in redact_text(text) for f in found)


ORDINARY = [
    "pulling docker.io/acme/shop@sha256:0d5f7c2b8e1a4f6d9c3b2a1e0f9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b",
    "request 123e4567-e89b-12d3-a456-426614174000 done in 12ms",
    "commit 8f3a2b1c9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a deployed",
    "2026-11-27T10:00:00.123Z INFO GET /api/v1/orders/42 200 max_tokens=4000 prompt_tokens=12",
    "KeyError: 'DATABASE_PASSWORD'",
    "environment variable STRIPE_API_KEY not set",
    "password authentication failed for user \"app\"",
    "Basic authentication is disabled",
    "Bearer authentication required",
    "listening on http://0.0.0.0:8080/healthz",
    "upstream http://api:8080/v1@latest returned 502",
    "token_count=12 tokenizer=cl100k_base",
    "E1127 10:00:00.000000 1 reflector.go:138] failed to list *v1.Secret: secrets is forbidden",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_log_lines_are_left_intact(line: str) -> None:
    assert redact_text(line) == line
    assert find_secrets(line) == []


def test_redaction_is_idempotent() -> None:
    text = "\n".join(c[0] for c in CASES)
    once = redact_text(text)
    assert redact_text(once) == once


def _deployment() -> dict[str, Any]:
    container = {
        "name": "app",
        "image": "acme/shop@sha256:0d5f7c2b8e1a4f6d9c3b2a1e0f9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b",
        "command": ["/app/server", "--db-password", "plain-pw-1", "--url=postgres://u:pw2pw2@db/x"],
        "args": ["--log-level=info"],
        "env": [
            {"name": "DATABASE_URL", "value": "postgres://app:envpw@db/shop"},
            {"name": "FEATURE_FLAG", "value": "on"},
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "api-token"}}},
            {"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "shop-config", "key": "level"}}},
        ],
        "envFrom": [{"secretRef": {"name": "shop-env"}}],
    }
    init = copy.deepcopy(container) | {"name": "migrate"}
    init["env"] = [{"name": "MIGRATION_PASSWORD", "value": "initpw"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "shop",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"env": "postgres://app:envpw@db"}),
                "deployment.kubernetes.io/revision": "7",
                "ci/webhook": "https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx",
            },
        },
        "spec": {"template": {"spec": {"containers": [container], "initContainers": [init]}}},
    }


def test_pod_spec_env_values_are_masked_and_names_and_references_kept() -> None:
    original = _deployment()
    before = copy.deepcopy(original)
    out = redact_k8s_object(original)
    assert original == before  # a copy, the input is untouched
    spec = out["spec"]["template"]["spec"]
    env = spec["containers"][0]["env"]
    assert [e["name"] for e in env] == ["DATABASE_URL", "FEATURE_FLAG", "API_TOKEN", "LOG_LEVEL"]
    assert env[0]["value"] == MASK and env[1]["value"] == MASK
    assert env[2]["valueFrom"] == {"secretKeyRef": {"name": "shop-secrets", "key": "api-token"}}
    assert env[3]["valueFrom"] == {"configMapKeyRef": {"name": "shop-config", "key": "level"}}
    assert spec["initContainers"][0]["env"] == [{"name": "MIGRATION_PASSWORD", "value": MASK}]
    assert spec["containers"][0]["envFrom"] == [{"secretRef": {"name": "shop-env"}}]


def test_command_flags_annotations_and_last_applied_are_redacted() -> None:
    out = redact_k8s_object(_deployment())
    dumped = json.dumps(out)
    for secret in ("plain-pw-1", "pw2pw2", "envpw", "initpw", "abcdefghijklmnopqrstuvwx"):
        assert secret not in dumped
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/app/server", "--db-password", MASK, "--url=postgres://u:****@db/x"]
    annotations = out["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
    assert annotations["deployment.kubernetes.io/revision"] == "7"
    assert container["image"].endswith("0d5f7c2b8e1a4f6d9c3b2a1e0f9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b")


def test_pod_env_is_masked_the_same_way() -> None:
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "v"}]}],
                                   "ephemeralContainers": [{"name": "dbg", "env": [{"name": "Y", "value": "w"}]}]}}
    out = redact_k8s_object(pod)
    assert out["spec"]["containers"][0]["env"] == [{"name": "X", "value": MASK}]
    assert out["spec"]["ephemeralContainers"][0]["env"] == [{"name": "Y", "value": MASK}]


def test_secret_object_data_is_masked_keys_kept() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="},
              "stringData": {"token": "t"}}
    out = redact_k8s_object(secret)
    assert out["data"] == {"password": MASK}
    assert out["stringData"] == {"token": MASK}


def test_event_messages_are_redacted_as_text() -> None:
    event = {"kind": "Event", "reason": "Failed",
             "message": "Failed to pull image: 401 Unauthorized, Authorization: Bearer abcdefgh12345678"}
    out = redact_k8s_object(event)
    assert out["message"].endswith("Authorization: Bearer ****")


def test_large_texts_take_the_prefiltered_path_with_identical_results() -> None:
    pieces = [c[0] for c in CASES] + ORDINARY
    noise = [f"2026-11-27T10:00:{i % 60:02d}Z INFO keys={i} monkey=1 task-runner ok" for i in range(200)]
    big = "\n".join(noise + pieces + noise + pieces)
    assert len(big) > 10_000
    expected = "\n".join(redact_text(p) for p in noise + pieces + noise + pieces)  # each piece is small
    assert redact_text(big) == expected
    assert sorted(find_secrets(big)) == sorted(s for p in pieces + pieces for s in find_secrets(p))


_FRAGMENTS = ["password", "Password", "pwd", "token", "api_key", "key", "sig", "dsn", "=", ":", " ", "\t", "\n",
              "'", '"', "://", "@", "/", "u:p", "AKIA", "ASIA", "ABCDEFGHIJKLMNOP", "sk-", "sk-proj-", "ghp_",
              "glpat-", "xoxb-", "eyJ", "abcdefghijklmnopqrstuvwxyz0123456789", "Bearer ", "Basic ",
              "dXNlcjpwYXNz", "Authorization: ", "hooks.slack.com/services/", "_", "-", ".", "x", "9", "é",
              "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "monkey", "keys", "--", "auth",
              "://u:p@", "postgres://app:pw@db", "Basic dXNlcjpwYXNzd29yZA==", "https://hooks.slack.com/services/T0/B1/x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=60))
def test_prefiltered_path_equals_running_every_rule(parts: list[str]) -> None:
    text = "x" * 2100 + "\n" + "".join(parts)  # long enough for the prefilter path
    direct = redact_unfiltered(text)
    assert redact_text(text) == direct


def test_multi_megabyte_text_is_redacted_chunk_by_chunk_with_identical_results() -> None:
    pieces = [c[0] for c in CASES if "PRIVATE KEY" not in c[0]]
    noise = "\n".join(f"2026-11-27T10:00:00Z INFO request {i} ok keys={i}" for i in range(20_000))
    parts = [noise, *pieces, noise, *pieces, noise]  # ~3 MB: several 1 MiB chunks, secrets between them
    big = "\n".join(parts)
    assert len(big) > 2_500_000
    assert redact_text(big) == "\n".join(redact_text(p) for p in parts)


def test_a_large_text_without_secrets_is_returned_without_a_copy() -> None:
    clean = "\n".join(f"2026-11-27T10:00:00Z INFO request {i} ok" for i in range(100_000))
    assert redact_text(clean) is clean
