"""The gitlab-ingestor's HTTP surface: GitLab webhooks in, correlated metadata out to the database.

GitLab's rules shape every answer (docs/wire-formats.md 'GitLab webhooks'): a 4xx or a timeout counts against the hook
and eventually disables it, so only a bad token (401), a body GitLab itself would never send
(400/413/422) or a database outage (503) is refused; unknown event kinds are a 200 and ignored.
The token is checked before the body is read, the body is read with a hard cap, and a repeated
delivery is recognised by its dedupe row, written in the same transaction as the effect. Concurrent
deliveries share that transaction (batching.GroupCommit); each is answered after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.core.routing import Routing
from fyr.db import correlation
from fyr.db.correlation import GitlabEvent
from fyr.db.engine import Database
from fyr.errors import ConfigError, DatabaseConflict, DatabaseUnavailable, TransientError
from fyr.health import ReadyCheck, add_health_routes
from fyr.services.gitlab_ingestor.batching import GroupCommit
from fyr.services.gitlab_ingestor.extract import NotJson, TooLarge, extract, reshape
from fyr.services.gitlab_ingestor.logic import dedupe_key, events_for
from fyr.services.gitlab_ingestor.models import (
    EVENT_MODELS,
    KIND_ALIASES,
    KIND_MODELS,
    AnnotateRequest,
    AnnotateResponse,
    DeploymentHook,
    Hook,
    JobHook,
    MergeRequestHook,
    PipelineHook,
    WebhookResponse,
)
from fyr.services.gitlab_ingestor.slack_actions import add_slack_routes
from fyr.settings import Settings

log = structlog.get_logger()

WEBHOOK_PATH = "/webhooks/gitlab"
ANNOTATE_PATH = "/api/v1/rollouts/annotate"
ANNOTATE_MAX_BYTES = 64 * 1024
# MySQL: lock wait timeout, deadlock, and "savepoint does not exist" (a deadlock inside a savepoint
# rolls back the whole transaction, so the ROLLBACK TO SAVEPOINT that follows fails): retry.
_LOCK_CONFLICTS = {1205, 1213, 1305}
_ATTEMPTS = 5
MAX_WAITING_DELIVERIES = 2048  # queued for the group commit; past it 503 at once (a database that hangs)
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


WEBHOOK_HEADERS = {
    "X-Gitlab-Event": "event kind, e.g. `Pipeline Hook`; unknown kinds are answered 200 and ignored",
    "X-Gitlab-Token": "the hook's secret token (GITLAB_INGESTOR_TOKEN); 401 when missing or wrong",
    "Idempotency-Key": "GitLab 17.4+: the same across retries and resends; the dedupe key",
    "X-Gitlab-Event-UUID": "dedupe key (with the event kind and a body hash) when Idempotency-Key is absent",
}
ANNOTATE_HEADERS = {
    "X-Gitlab-Token": "the ingestor's token (GITLAB_INGESTOR_TOKEN)",
    "Authorization": "or `Bearer <token>`",
}


def _header_params(headers: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "header", "required": False, "description": text,
             "schema": {"type": "string"}} for name, text in headers.items()]


@dataclass(frozen=True)
class Delivery:
    """One authenticated, parsed webhook waiting for its transaction."""

    key: str
    kind: str
    events: list[GitlabEvent]


def _attached_to(delivery: Delivery, done: Sequence[tuple[int, str | None]]) -> list[int]:
    shas = {event.commit_sha for event in delivery.events}
    return [rollout_id for rollout_id, commit in done if commit in shas]


def require_token(settings: Settings) -> bytes:
    if not settings.gitlab_ingestor_token:
        raise ConfigError(
            "GITLAB_INGESTOR_TOKEN is not set; the ingestor refuses to accept unauthenticated webhooks"
        )
    return settings.gitlab_ingestor_token.get_secret_value().encode("utf-8")


class Rejected(Exception):
    """A request refused with a status and a one-line reason (never a side effect)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class IngestorMetrics:
    """Per-app registry, so that several apps (tests, `fyr all`) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("fyr_ingestor_requests", "Webhook and annotate requests by outcome",
                                ["endpoint", "event", "outcome"], registry=self.registry)
        self.latency = Histogram("fyr_ingestor_request_seconds", "Time to answer an accepted request",
                                 ["endpoint"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
        self.batch_size = Histogram("fyr_ingestor_batch_size", "Deliveries per shared transaction",
                                    registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64))
        self.batch_seconds = Histogram("fyr_ingestor_batch_seconds", "Time of one shared transaction",
                                       registry=self.registry,
                                       buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
        self.retries = Counter("fyr_ingestor_transaction_retries", "Transactions retried after a "
                               "deadlock or lock wait timeout", registry=self.registry)
        self.ignored = Counter("fyr_ingestor_deliveries_ignored", "Authenticated deliveries answered 200 and "
                               "not used, by reason", ["reason"], registry=self.registry)
        self.attached = Counter("fyr_ingestor_rollouts_attached", "Rollouts that received GitLab metadata",
                                registry=self.registry)


def _header_bytes(value: str) -> bytes:
    # Starlette decodes header values as latin-1: encoding back gives the bytes on the wire.
    return value.encode("latin-1", "replace")


def _token_ok(request: Request, expected: bytes) -> bool:
    given = request.headers.get("x-gitlab-token")
    if given is None:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
    if given is None:
        return False
    return hmac.compare_digest(_header_bytes(given), expected)


def _declared_length(request: Request, limit: int) -> int:
    """The bytes a body will take (Content-Length; the limit when chunked); 413/400 up front."""
    length = request.headers.get("content-length")
    if length is None:
        return limit
    if not length.isdigit():
        raise Rejected(400, "invalid Content-Length")
    if int(length) > limit:
        raise Rejected(413, f"body larger than {limit} bytes")
    return int(length)


async def _read_body(request: Request, limit: int) -> bytes:
    _declared_length(request, limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise Rejected(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class ByteBudget:
    """Bytes of webhook bodies being read at once; a delivery past the budget is a 503 at once.

    Reserved from Content-Length before the first body byte is read (the limit for a chunked body),
    released when the body has been parsed: concurrent large deliveries cannot add up past it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_acquire(self, size: int) -> bool:
        # One delivery alone always fits, so that a budget below the body limit cannot refuse all.
        if self.in_flight and self.in_flight + size > self.limit:
            return False
        self.in_flight += size
        return True

    def release(self, size: int) -> None:
        self.in_flight -= size


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise Rejected(400, "body is not valid JSON") from None
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors[:10]]
        raise Rejected(422, detail) from None


def _is_lock_conflict(exc: OperationalError) -> bool:
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    return code in _LOCK_CONFLICTS


async def _with_retry(work: Callable[[], Awaitable[T]], retries: Counter) -> T:
    """Run one transaction; a deadlock or lock timeout (MySQL) is retried with a jittered pause."""
    for attempt in range(_ATTEMPTS):
        try:
            return await work()
        except (OperationalError, DatabaseConflict) as exc:
            conflict = isinstance(exc, DatabaseConflict) or _is_lock_conflict(exc)
            if not conflict or attempt == _ATTEMPTS - 1:
                raise
            retries.inc()
            await asyncio.sleep(random.uniform(0.002, 0.01) * (2**attempt))
    raise AssertionError("unreachable")


async def _read_committed(session: AsyncSession) -> None:
    """READ COMMITTED for this transaction (MySQL), issued before its first statement.

    Each statement then reads what is committed when it runs, so the rollout query that follows
    our upsert sees a rollout whose transaction we waited for (fyr.db.correlation.attach_staged
    explains the race this closes); and there are no gap locks to deadlock on. `SET TRANSACTION`
    applies to the next transaction only: no reset when the connection goes back to the pool.
    """
    if session.bind is not None and session.bind.dialect.name in ("mysql", "mariadb"):
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))


def _openapi_schemas(app: FastAPI) -> dict[str, Any]:
    """OpenAPI with the webhook payload models (the body is read by hand, so FastAPI cannot see it)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    models: list[type[BaseModel]] = [PipelineHook, JobHook, DeploymentHook, MergeRequestHook,
                                     AnnotateRequest]
    _, defs = models_json_schema([(m, "validation") for m in models],
                                 ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    hooks = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in models[:4]]
    bodies = {
        WEBHOOK_PATH: {"oneOf": hooks},
        ANNOTATE_PATH: {"$ref": "#/components/schemas/AnnotateRequest"},
    }
    for path, body in bodies.items():
        schema["paths"][path]["post"]["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": body}}}
    app.openapi_schema = schema
    return schema


def create_app(*, settings: Settings, db: Database, routing: Routing,
               checks: Mapping[str, ReadyCheck] | None = None) -> FastAPI:
    """The ingestor app; collaborators come in, nothing is built at import time."""
    token = require_token(settings)
    max_body = settings.ingestor_max_body_bytes
    answer_seconds = settings.ingestor_answer_seconds
    metrics = IngestorMetrics()
    app = FastAPI(
        title="Fyr gitlab-ingestor",
        version="1",
        description="Receives GitLab webhooks and explicit annotations; attaches commit, pipeline, "
        "merge request, team and Slack channel to Kubernetes rollouts.",
        docs_url="/docs",
    )
    app.state.metrics = metrics

    async def one_delivery(d: Delivery) -> tuple[bool, list[int]]:
        async def work() -> tuple[bool, list[int]]:
            async with db.session(max_seconds=answer_seconds) as session:
                await _read_committed(session)
                if not await correlation.record_delivery(session, d.key, d.kind):
                    return False, []
                done = await correlation.apply_gitlab_events(session, d.events)
            return True, [rollout_id for rollout_id, _ in done]

        return await _with_retry(work, metrics.retries)

    async def many_deliveries(batch: Sequence[Delivery]) -> list[tuple[bool, list[int]]]:
        async def work() -> list[tuple[bool, list[int]]]:
            async with db.session(max_seconds=answer_seconds) as session:
                await _read_committed(session)
                fresh = await correlation.record_deliveries(session, [(d.key, d.kind) for d in batch])
                events = [e for d, new in zip(batch, fresh, strict=True) if new for e in d.events]
                done = await correlation.apply_gitlab_events(session, events) if events else []
            return [(new, _attached_to(d, done) if new else []) for d, new in zip(batch, fresh, strict=True)]

        return await _with_retry(work, metrics.retries)

    def observe_batch(size: int, seconds: float) -> None:
        metrics.batch_size.observe(size)
        metrics.batch_seconds.observe(seconds)

    group: GroupCommit[Delivery, tuple[bool, list[int]]] = GroupCommit(
        run_batch=many_deliveries, run_one=one_delivery, max_batch=64, observe=observe_batch,
        isolate=lambda exc: not isinstance(exc, TransientError), max_queue=MAX_WAITING_DELIVERIES)
    app.state.group_commit = group

    def reject(endpoint: str, event: str, exc: Rejected) -> JSONResponse:
        metrics.requests.labels(endpoint, event, str(exc.status)).inc()
        if exc.status == 401:
            log.warning("ingestor_unauthorized", endpoint=endpoint)
        else:
            log.info("ingestor_rejected", endpoint=endpoint, gitlab_event=event, status=exc.status)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    def unavailable(endpoint: str, event: str, exc: DatabaseUnavailable) -> JSONResponse:
        metrics.requests.labels(endpoint, event, "503").inc()
        log.warning("ingestor_database_unavailable", endpoint=endpoint, error=str(exc))
        return JSONResponse({"detail": "database unavailable"}, status_code=503,
                            headers={"Retry-After": "5"})

    budget = ByteBudget(settings.ingestor_max_bytes_in_flight)
    app.state.byte_budget = budget

    def ignored(event: str, reason: str) -> JSONResponse:
        metrics.requests.labels("webhook", event, "ignored").inc()
        metrics.ignored.labels(reason).inc()
        log.info("gitlab_event_ignored", gitlab_event=event[:100], reason=reason)
        return JSONResponse({"status": "ignored"})

    @app.post(
        WEBHOOK_PATH,
        response_model=WebhookResponse,
        summary="GitLab webhook (Pipeline, Job, Deployment, Merge Request hooks)",
        openapi_extra={"parameters": _header_params(WEBHOOK_HEADERS)},
        responses={400: {"description": "not JSON"}, 401: {"description": "bad or missing X-Gitlab-Token"},
                   413: {"description": "body over the limit (25 MB)"},
                   503: {"description": "database unavailable, or too many large bodies in flight"}},
    )
    async def gitlab_webhook(request: Request) -> Response:
        # Headers are read by hand (documented in openapi_extra): FastAPI's per-parameter
        # machinery costs more CPU than the rest of a webhook's parsing.
        started = time.perf_counter()
        headers = request.headers
        event = headers.get("x-gitlab-event", "").strip()
        try:
            if not _token_ok(request, token):
                raise Rejected(401, "invalid or missing X-Gitlab-Token")
            known = EVENT_MODELS.get(event)
            if known is None and event and event != "System Hook":
                return ignored("other", "event not used")
            reserved = _declared_length(request, max_body)
            if not budget.try_acquire(reserved):
                metrics.requests.labels("webhook", kind_label(event), "busy").inc()
                log.warning("ingestor_bytes_in_flight_full", reserved=reserved, in_flight=budget.in_flight)
                return JSONResponse({"detail": "too many large deliveries in flight"}, status_code=503,
                                    headers={"Retry-After": "5", "Connection": "close"})
            try:
                body = await extract(request.stream(), max_body)
            except TooLarge as exc:
                raise Rejected(413, str(exc)) from None
            except NotJson as exc:
                raise Rejected(400, f"body is not valid JSON: {exc}") from None
            finally:
                budget.release(reserved)
        except Rejected as exc:
            return reject("webhook", kind_label(event), exc)

        body_kind = body.fields.get("object_kind") or body.fields.get("event_name")
        body_kind = KIND_ALIASES.get(body_kind, body_kind) if isinstance(body_kind, str) else None
        if known is not None:
            kind, model = known
            if body_kind is not None and body_kind != kind:
                return ignored(kind, "object_kind does not match X-Gitlab-Event")
        else:  # System Hook (or no event header): the body says what it is
            system_model = KIND_MODELS.get(body_kind) if body_kind else None
            if body_kind is None or system_model is None:
                return ignored("other", "object kind not used")
            kind, model = body_kind, system_model
        fields = reshape(kind, body.fields)
        fields["object_kind"] = kind
        parsed = validate_tolerantly(model, fields)
        if isinstance(parsed, str):
            return ignored(kind, parsed)
        hook: Hook = parsed

        key = dedupe_key(idempotency_key=headers.get("idempotency-key"),
                         event_uuid=headers.get("x-gitlab-event-uuid"), kind=kind, body_sha256=body.body_sha256)
        try:
            # The batch is shielded inside submit: past the deadline this request is answered 503
            # while the delivery is still written when the database answers (dedupe makes that safe).
            async with asyncio.timeout(answer_seconds):
                fresh, attached = await group.submit(Delivery(key=key, kind=kind, events=events_for(hook)))
        except DatabaseUnavailable as exc:
            return unavailable("webhook", kind, exc)
        except asyncio.QueueFull as exc:
            return unavailable("webhook", kind, DatabaseUnavailable(str(exc)))
        except TimeoutError:
            return unavailable("webhook", kind, DatabaseUnavailable(
                f"database did not answer in {answer_seconds:g} s"))
        outcome = "accepted" if fresh else "duplicate"
        metrics.requests.labels("webhook", kind, outcome).inc()
        metrics.attached.inc(len(attached))
        metrics.latency.labels("webhook").observe(time.perf_counter() - started)
        if not fresh:
            log.info("gitlab_delivery_duplicate", gitlab_event=kind)
        elif attached:
            log.info("gitlab_metadata_attached", gitlab_event=kind, rollout_ids=attached[:10])
        return JSONResponse({"status": outcome})

    @app.post(
        ANNOTATE_PATH,
        response_model=AnnotateResponse,
        summary="A deploy job attaches metadata to its Deployment's rollout explicitly",
        openapi_extra={"parameters": _header_params(ANNOTATE_HEADERS)},
        responses={400: {"description": "not JSON"}, 401: {"description": "bad or missing token"},
                   413: {"description": "body over 64 KiB"}, 422: {"description": "invalid fields"},
                   503: {"description": "database unavailable"}},
    )
    async def annotate_rollout(request: Request) -> Response:
        started = time.perf_counter()
        try:
            if not _token_ok(request, token):
                raise Rejected(401, "invalid or missing token (X-Gitlab-Token or Authorization: Bearer)")
            req = _parse(AnnotateRequest, await _read_body(request, ANNOTATE_MAX_BYTES))
        except Rejected as exc:
            return reject("annotate", "annotate", exc)
        note = correlation.Annotation(
            cluster=req.cluster or settings.cluster_name, namespace=req.namespace,
            deployment=req.deployment, commit=req.commit, project=req.project,
            environment=req.environment, pipeline_url=req.pipeline_url, mr_url=req.mr_url,
            team=req.team, slack_channel=req.slack_channel, kind=req.kind,
        )

        async def work() -> tuple[list[int], str | None, str | None, str | None]:
            async with db.session(max_seconds=answer_seconds) as session:
                await _read_committed(session)
                rollouts = await correlation.annotate(session, note)
            if not rollouts:
                return [], req.project, req.team, req.slack_channel
            first = rollouts[0]
            return ([r.id for r in rollouts], first.git_project or req.project or first.gitlab_app, first.team,
                    first.slack_channel)

        try:
            # Safe to repeat: the annotation is an upsert keyed by namespace/deployment/commit.
            # Shielded: past the deadline the request is answered while the work finishes under
            # its own session deadlines (never cancelled mid-statement).
            ids, project, team, channel = await asyncio.wait_for(
                asyncio.shield(_with_retry(work, metrics.retries)), answer_seconds)
        except DatabaseUnavailable as exc:
            return unavailable("annotate", "annotate", exc)
        except TimeoutError:
            return unavailable("annotate", "annotate", DatabaseUnavailable(
                f"database did not answer in {answer_seconds:g} s"))
        # What the notifier will do: annotations, else the routing file, else the default channel.
        route = routing.route_for(project, team)
        answer = AnnotateResponse(
            status="attached" if ids else "staged", rollout_ids=ids,
            team=team or (route.team if route else None),
            slack_channel=channel or (route.slack_channel if route else None)
            or settings.default_slack_channel,
        )
        metrics.requests.labels("annotate", "annotate", answer.status).inc()
        metrics.attached.inc(len(answer.rollout_ids))
        metrics.latency.labels("annotate").observe(time.perf_counter() - started)
        log.info("rollout_annotated", kind=req.kind, namespace=req.namespace, deployment=req.deployment,
                 status=answer.status, rollout_ids=answer.rollout_ids)
        return JSONResponse(answer.model_dump())

    add_health_routes(app, db=db, checks=checks, registries=[metrics.registry])

    app.openapi = lambda: _openapi_schemas(app)  # type: ignore[method-assign]
    add_slack_routes(app, settings=settings, db=db)
    return app


def validate_tolerantly(model: type[Hook], fields: dict[str, Any]) -> Hook | str:
    """The hook, with invalid optional values (and invalid list items) dropped; else why not (pure).

    An optional field GitLab filled oddly (an id out of range, an overlong URL, one bad build) costs
    that value, not the delivery; a required one missing or invalid makes the delivery unusable.
    """
    for _ in range(8):
        try:
            return model.model_validate(fields)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            if any(e["type"] == "missing" for e in errors):
                return "missing or invalid " + ".".join(str(p) for p in errors[0]["loc"])[:100]
            # The value itself, or the list item it sits in; highest list indexes first.
            cuts = {_cut(tuple(e["loc"])) for e in errors}
            for loc in sorted(cuts, key=lambda c: [(1, p) if isinstance(p, int) else (0, p) for p in c],
                              reverse=True):
                _drop(fields, loc)
    return "too many invalid fields"


def _cut(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    ints = [i for i, part in enumerate(loc) if isinstance(part, int)]
    return loc[: ints[-1] + 1] if ints else loc


def _drop(fields: dict[str, Any], loc: tuple[int | str, ...]) -> None:
    parent: Any = fields
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    with contextlib.suppress(KeyError, IndexError, TypeError):
        del parent[loc[-1]]


def kind_label(event: str) -> str:
    known = EVENT_MODELS.get(event)
    return known[0] if known else "other"

