"""Shared pieces of the corpus cases: planted secrets, log generators, a case registry."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builders import Rollout, container, crashloop, template

HERE = Path(__file__).parent

# Planted secrets (fake, realistic formats). Every one must be absent from the analysis output.
AWS_KEY = "AKIAZ7QK4XPL2M9RTW3B"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Lw2Xp9V"
GITLAB = "glpat-Xy9vR2kLm8NqT4wZ1bC7"
SLACK = "xoxb-2648213394-5590123456789-Qk7fW2zR9pLm3nV8xT1yB4cD"
OPENAI = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcGkiLCJyb2xlIjoiYWRtaW4ifQ"
       ".dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk")
PEM_BODY = "MIIEowIBAAKCAQEAq7vXzR2kLm8NqT4wZ1bC7Yd3F6hJ9sP0uV5eW8aB"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END RSA PRIVATE KEY-----"
PG_PASS = "S3cr3tPgPassQ9"
MSSQL_PASS = "Tr0ub4dorX3x9"
BEARER = "9f8e7d6c5b4a39281706f5e4d3c2b1a0ff"
ENV_PASS = "hunter2-Pr0d-Pass"
ENV_SALT = "q8Zr4Lw2Xp9Vn6TbK3"
ARG_PASS = "P4ssw0rdArg77"
ARG_TOKEN = "tok_live_8f7e6d5c4b3a2918"
REDIS_PASS = "r3d1sPa55w0rdZ"

CASES: dict[str, Callable[[], tuple[dict[str, Any], dict[str, Any]]]] = {}


def case(fn: Callable[[], tuple[dict[str, Any], dict[str, Any]]]) -> Callable[[], Any]:
    CASES[fn.__name__.removeprefix("case_")] = fn
    return fn


def noise(n: int, seed: int, *, lang: str = "py") -> list[str]:
    rnd = random.Random(seed)
    paths = ["/api/orders", "/api/cart", "/healthz", "/api/users/{}", "/metrics", "/api/items/{}"]
    out = []
    for i in range(n):
        p = rnd.choice(paths).format(rnd.randint(1, 99999))
        ms = rnd.randint(1, 900)
        if lang == "java":
            out.append(f"2026-11-27 09:5{i % 10}:{i % 60:02d}.{i % 1000:03d}  INFO 1 --- [nio-8080-exec-{i % 9}] "
                       f"c.a.shop.web.RequestLogger : GET {p} 200 {ms}ms")
        elif lang == "json":
            out.append(json.dumps({"level": "info", "ts": 1795000000 + i, "msg": "request", "path": p,
                                   "status": 200, "duration_ms": ms}))
        else:
            out.append(f"2026-11-27T09:58:{i % 60:02d}.{i % 1000:03d}Z INFO  request method=GET path={p} "
                       f"status=200 duration={ms}ms request_id={rnd.getrandbits(64):016x}")
    return out


def py_keyerror(var: str) -> list[str]:
    return [
        "Traceback (most recent call last):",
        '  File "/app/main.py", line 42, in <module>',
        "    settings = load_settings()",
        '  File "/app/settings.py", line 17, in load_settings',
        f'    database_url = os.environ["{var}"]',
        '  File "/usr/local/lib/python3.12/os.py", line 714, in __getitem__',
        "    raise KeyError(key) from None",
        f"KeyError: '{var}'",
    ]


def base_app(name: str, image: str, **extra: Any) -> dict[str, Any]:
    resources = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    return container(name, image, **{"ports": [{"containerPort": 8080}], "resources": resources, **extra})


def secret_env() -> list[dict[str, Any]]:
    return [
        {"name": "DB_PASSWORD", "value": ENV_PASS},
        {"name": "SIGNING_SALT", "value": ENV_SALT},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-secrets", "key": "token"}}},
        {"name": "LOG_LEVEL", "value": "info"},
    ]


def simple_crash(
    name: str, image_old: str, image_new: str, log_lines: list[str], *, ns: str = "shop", restarts: int = 5,
    exit_code: int = 1, env: list[dict[str, Any]] | None = None, previous_only: bool = True,
    pods: int = 2, args: list[str] | None = None, annotations: dict[str, str] | None = None,
) -> tuple[Rollout, list[dict[str, Any]]]:
    extra: dict[str, Any] = {}
    if env is not None:
        extra["env"] = env
    if args is not None:
        extra["args"] = args
    new = template(name, [base_app("app", image_new, **extra)])
    old = template(name, [base_app("app", image_old, **{k: v for k, v in extra.items() if k != "args"})])
    r = Rollout(name, ns, new, old, annotations=annotations)
    made = []
    for i in range(pods):
        pod = r.pod(i, statuses=[crashloop("app", image_new, restarts=restarts + i, exit_code=exit_code)])
        made.append(pod)
        r.event(pod, "BackOff", f"Back-off restarting failed container app in pod {pod['metadata']['name']}_"
                f"{ns}({pod['metadata']['uid']})", count=restarts * 4, field_path="spec.containers{app}")
        r.log(pod, "app", "\n".join(log_lines) + "\n", previous=True)
        if not previous_only:
            r.log(pod, "app", "\n".join(log_lines[:3]) + "\n", previous=False)
    return r, made


def expect(category: str, evidence: list[str], secrets: list[str] | None = None,
           status: str = "FAILED") -> dict[str, Any]:
    return {"category": category, "evidence": evidence, "secrets": secrets or [], "status": status}


GIT = {"project": "acme/shop-api", "commit": "3f9a2c1d7e8b4a6f0c5d2e1b9a8f7c6d5e4b3a21",
       "pipeline_url": "https://gitlab.example.com/acme/shop-api/-/pipelines/88123",
       "mr_url": "https://gitlab.example.com/acme/shop-api/-/merge_requests/412", "team": "shop",
       "slack_channel": "#shop-deploys"}


