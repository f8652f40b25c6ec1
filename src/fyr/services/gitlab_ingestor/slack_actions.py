"""`POST /slack/interactions`: the buttons on a failure message (Slack's interactivity request).

Slack signs every request: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret,
"v0:<X-Slack-Request-Timestamp>:<raw body>")>`. A missing, wrong or stale (over 5 minutes)
signature is 401 and nothing is read further; a body that is not Slack's form-encoded `payload`
JSON is 400. An unknown action or rollout is 200 with nothing done (Slack shows an error for any
other answer). The endpoint exists only when `SLACK_SIGNING_SECRET` is set.

Actions (the button's `value` is the rollout id):
- `fyr_reanalyse`: a fresh analysis (new bundle, the model when configured, no reuse); its result
  edits the message in place.
- `fyr_mute` / `fyr_unmute`: mute the workload for `FYR_MUTE_HOURS`; its failures are still
  recorded and analysed, their messages go quietly into the first message's thread. Optionally
  limited to the Slack user ids in `FYR_SLACK_ACTION_USERS`.
- `fyr_rollback`: answers the clicking user only (ephemeral, through `response_url`) with the
  exact `kubectl rollout undo … --to-revision=N` of the previous healthy revision and the pipeline
  to re-run. Fyr itself never writes to the cluster.
Each accepted click is recorded with its effect in one transaction, unique on the click (action,
`action_ts`, user): Slack's retry of the same request, or a second ingestor that receives it, has
one effect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import Counter
from starlette.background import BackgroundTask

from fyr.db import actions as actions_db
from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.errors import DatabaseUnavailable
from fyr.health import collectors_for
from fyr.models.rollout import Rollout
from fyr.settings import Settings

log = structlog.get_logger()

MAX_AGE_SECONDS = 300
BODY_MAX = 1024 * 1024  # a block_actions payload carries the whole message: well under this
ACTIONS = {"fyr_reanalyse": "reanalyse", "fyr_mute": "mute", "fyr_unmute": "unmute", "fyr_rollback": "rollback"}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature (v0) of `body` sent at `timestamp`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signature_ok(secret: str, headers: Any, body: bytes, *, now: float | None = None) -> bool:
    timestamp = headers.get("x-slack-request-timestamp", "")
    given = headers.get("x-slack-signature", "")
    if not timestamp or not given or not timestamp.isdigit():
        return False
    if abs((now or time.time()) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), given.encode())


@dataclass(frozen=True)
class Click:
    action_id: str
    value: str
    action_ts: str
    user_id: str
    user_name: str | None
    response_url: str | None

    @property
    def dedupe_key(self) -> str:
        raw = f"{self.action_id}|{self.action_ts}|{self.user_id}|{self.value}"
        return hashlib.sha256(raw.encode()).hexdigest()


class Malformed(ValueError):
    pass


def parse_click(body: bytes) -> Click | None:
    """The first action of a `block_actions` payload; None for other interaction types."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
        raise Malformed(f"not a Slack interaction payload: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise Malformed("payload is not an object")
    if payload.get("type") != "block_actions":
        return None
    acts, user = payload.get("actions"), payload.get("user")
    if not isinstance(acts, list) or not acts or not isinstance(acts[0], dict) or not isinstance(user, dict):
        raise Malformed("block_actions without actions or user")
    a = acts[0]
    user_id = str(user.get("id") or "")
    if not user_id:
        raise Malformed("no user id")
    return Click(action_id=str(a.get("action_id") or ""), value=str(a.get("value") or ""),
                 action_ts=str(a.get("action_ts") or payload.get("trigger_id") or ""), user_id=user_id,
                 user_name=str(user.get("username") or user.get("name") or "") or None,
                 response_url=str(payload.get("response_url") or "") or None)


def response_url_ok(url: str | None, settings: Settings) -> bool:
    """Only Slack's own hooks host (or, for a Slack-compatible test server, SLACK_API_URL's host)."""
    if not url:
        return False
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname == "hooks.slack.com":
        return True
    api = urlsplit(settings.slack_api_url)
    return api.hostname not in (None, "slack.com") and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


async def answer_ephemeral(url: str, text: str) -> None:
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await client.post(url, json={"response_type": "ephemeral", "replace_original": False, "text": text})
    except httpx.HTTPError as exc:
        log.warning("slack_response_url_failed", error=str(exc))


def rollback_text(rollout: Rollout, healthy: Rollout | None) -> str:
    where = f"deployment/{rollout.deployment} -n {rollout.namespace}"
    if healthy is None or healthy.revision is None:
        return (f"No earlier healthy revision of `{rollout.namespace}/{rollout.deployment}` is recorded. "
                f"See the history: `kubectl rollout history {where}`.")
    lines = [f"Roll back `{rollout.namespace}/{rollout.deployment}` to revision {healthy.revision} "
             f"(generation {healthy.generation}, the last one that rolled out):",
             f"```kubectl rollout undo {where} --to-revision={healthy.revision}```"]
    if healthy.pipeline_url:
        lines.append(f"Or re-run the pipeline that deployed it: {healthy.pipeline_url}")
    lines.append("Fyr does not change the cluster itself.")
    return "\n".join(lines)


def add_slack_routes(app: FastAPI, *, settings: Settings, db: Database) -> None:
    """Serve `POST /slack/interactions` when SLACK_SIGNING_SECRET is set; otherwise serve nothing."""
    if settings.slack_signing_secret is None:
        log.info("slack_interactions_disabled", why="SLACK_SIGNING_SECRET is not set")
        return
    secret = settings.slack_signing_secret.get_secret_value()
    allowed = settings.action_users
    clicks = collectors_for("slack_actions", None, lambda reg: Counter(
        "fyr_slack_actions_total", "Slack button clicks by action and outcome", ["action", "outcome"], registry=reg))

    async def apply(click: Click, action: str, rollout_id: int) -> tuple[str, str | None]:
        """Record the click and its effect in one transaction; returns (outcome, text for the user)."""
        async with db.session() as s:
            rollout = await rollouts.get_rollout(s, rollout_id)
            if rollout is None:
                return "unknown_rollout", None
            if action in ("mute", "unmute") and allowed and click.user_id not in allowed:
                return "refused", "Only the people named in FYR_SLACK_ACTION_USERS may mute this workload."
            detail: str | None = None
            healthy = await actions_db.previous_healthy(s, rollout) if action == "rollback" else None
            if action == "mute":
                detail = f"until {(await _mute(s, rollout, click)).isoformat()}"
            if not await actions_db.record_action(s, rollout_id=rollout.id, action=action, user_id=click.user_id,
                                                  user_name=click.user_name, dedupe_key=click.dedupe_key,
                                                  detail=detail):
                await s.rollback()
                return "duplicate", None
            if action == "reanalyse":
                await actions_db.request_reanalysis(s, rollout)
                return "ok", None
            if action == "unmute":
                await actions_db.unmute(s, rollout)
                return "ok", None
            if action == "rollback":
                return "ok", rollback_text(rollout, healthy)
            return "ok", None

    async def _mute(s: Any, rollout: Rollout, click: Click) -> Any:
        return await actions_db.mute(s, rollout, user_id=click.user_id, hours=settings.mute_hours)

    @app.post("/slack/interactions", tags=["slack"], include_in_schema=True)
    async def slack_interactions(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > BODY_MAX:
                return Response(status_code=413)
        if not signature_ok(secret, request.headers, body):
            clicks.labels(action="?", outcome="bad_signature").inc()
            log.warning("slack_interaction_refused", why="bad, missing or stale signature")
            return Response(status_code=401)
        try:
            click = parse_click(body)
        except Malformed as exc:
            return Response(str(exc), status_code=400)
        if click is None or click.action_id not in ACTIONS or not click.value.isdigit():
            return Response(status_code=200)
        action = ACTIONS[click.action_id]
        try:
            outcome, text = await apply(click, action, int(click.value))
        except DatabaseUnavailable:
            clicks.labels(action=action, outcome="unavailable").inc()
            return Response(status_code=503, headers={"Retry-After": "5"})
        clicks.labels(action=action, outcome=outcome).inc()
        log.info("slack_action", action=action, rollout_id=int(click.value), user=click.user_id, outcome=outcome)
        task = None
        if text and response_url_ok(click.response_url, settings):
            task = BackgroundTask(answer_ephemeral, str(click.response_url), text)
        return Response(status_code=200, background=task)
