"""The gitlab-ingestor's HTTP surface: GitLab webhooks in, correlated metadata out to the database.

GitLab's rules shape every answer (docs/wire-formats.md 'GitLab webhooks'): a 4xx or a timeout counts against the hook
and eventually disables it, so only a bad token (401), a body GitLab itself would never send
(400/413/422) or a database outage (503) is refused; unknown event kinds are a 200 and ignored.
The token is checked before the body is read, the body is read with a hard cap, and a repeated
delivery is recognised by its dedupe row, written in the same transaction as the effect. Concurrent
deliveries share that transaction (batching.GroupCommit); each is answered after the commit.
`create_app` wires the parts: the transactions are storage.DeliveryStore's, the counters
metrics.IngestorMetrics'.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from fyr.core.gitlab_events import Annotation
from fyr.core.routing import Routing
from fyr.db.engine import Database
from fyr.errors import ConfigError, DatabaseUnavailable, TransientError
from fyr.health import ReadyCheck, add_health_routes
from fyr.models.rollout import Rollout
from fyr.services.gitlab_ingestor.batching import GroupCommit
from fyr.services.gitlab_ingestor.extract import NotJson, TooLarge, extract, reshape
from fyr.services.gitlab_ingestor.logic import dedupe_key, events_for
from fyr.services.gitlab_ingestor.metrics import IngestorMetrics
from fyr.services.gitlab_ingestor.slack_actions import add_slack_routes
from fyr.services.gitlab_ingestor.storage import Delivery, DeliveryStore, Outcome
from fyr.services.gitlab_ingestor.webhooks import (
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
from fyr.settings import Settings

log = structlog.get_logger()

WEBHOOK_PATH = "/webhooks/gitlab"
ANNOTATE_PATH = "/api/v1/rollouts/annotate"
ANNOTATE_MAX_BYTES = 64 * 1024
MAX_WAITING_DELIVERIES = 2048  # queued for the group commit; past it 503 at once (a database that hangs)
M = TypeVar("M", bound=BaseModel)


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


def _reject(metrics: IngestorMetrics, endpoint: str, event: str, exc: Rejected) -> JSONResponse:
    metrics.count(endpoint, event, str(exc.status))
    if exc.status == 401:
        log.warning("ingestor_unauthorized", endpoint=endpoint)
    else:
        log.info("ingestor_rejected", endpoint=endpoint, gitlab_event=event, status=exc.status)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


def _unavailable(metrics: IngestorMetrics, endpoint: str, event: str, exc: DatabaseUnavailable) -> JSONResponse:
    metrics.count(endpoint, event, "503")
    log.warning("ingestor_database_unavailable", endpoint=endpoint, error=str(exc))
    return JSONResponse({"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "5"})


def _ignored(metrics: IngestorMetrics, event: str, reason: str) -> JSONResponse:
    """An authenticated delivery Fyr does not use: 200, so that GitLab keeps the hook enabled."""
    metrics.count("webhook", event, "ignored")
    metrics.ignored.labels(reason).inc()
    log.info("gitlab_event_ignored", gitlab_event=event[:100], reason=reason)
    return JSONResponse({"status": "ignored"})


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
    store = DeliveryStore(db, answer_seconds=answer_seconds, on_retry=metrics.retries.inc)
    app = FastAPI(
        title="Fyr gitlab-ingestor",
        version="1",
        description="Receives GitLab webhooks and explicit annotations; attaches commit, pipeline, "
        "merge request, team and Slack channel to Kubernetes rollouts.",
        docs_url="/docs",
    )
    app.state.metrics = metrics

    group: GroupCommit[Delivery, Outcome] = GroupCommit(
        run_batch=store.many, run_one=store.one, max_batch=64, observe=metrics.observe_batch,
        isolate=lambda exc: not isinstance(exc, TransientError), max_queue=MAX_WAITING_DELIVERIES)
    app.state.group_commit = group

    budget = ByteBudget(settings.ingestor_max_bytes_in_flight)
    app.state.byte_budget = budget

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
                return _ignored(metrics, "other", "event not used")
            reserved = _declared_length(request, max_body)
            if not budget.try_acquire(reserved):
                metrics.count("webhook", kind_label(event), "busy")
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
            return _reject(metrics, "webhook", kind_label(event), exc)

        kind, parsed = parse_hook(known, body.fields)
        if isinstance(parsed, str):
            return _ignored(metrics, kind, parsed)
        hook: Hook = parsed

        key = dedupe_key(idempotency_key=headers.get("idempotency-key"),
                         event_uuid=headers.get("x-gitlab-event-uuid"), kind=kind, body_sha256=body.body_sha256)
        try:
            # The batch is shielded inside submit: past the deadline this request is answered 503
            # while the delivery is still written when the database answers (dedupe makes that safe).
            async with asyncio.timeout(answer_seconds):
                fresh, attached = await group.submit(Delivery(key=key, kind=kind, events=events_for(hook)))
        except DatabaseUnavailable as exc:
            return _unavailable(metrics, "webhook", kind, exc)
        except asyncio.QueueFull as exc:
            return _unavailable(metrics, "webhook", kind, DatabaseUnavailable(str(exc)))
        except TimeoutError:
            return _unavailable(metrics, "webhook", kind, DatabaseUnavailable(
                f"database did not answer in {answer_seconds:g} s"))
        outcome = "accepted" if fresh else "duplicate"
        metrics.answered("webhook", kind, outcome, attached=len(attached), seconds=time.perf_counter() - started)
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
            return _reject(metrics, "annotate", "annotate", exc)
        note = Annotation(
            cluster=req.cluster or settings.cluster_name, namespace=req.namespace,
            deployment=req.deployment, commit=req.commit, project=req.project,
            environment=req.environment, pipeline_url=req.pipeline_url, mr_url=req.mr_url,
            team=req.team, slack_channel=req.slack_channel, kind=req.kind,
        )
        try:
            # Shielded: past the deadline the request is answered while the work finishes under
            # its own session deadlines (never cancelled mid-statement).
            rollouts = await asyncio.wait_for(asyncio.shield(store.annotate(note)), answer_seconds)
        except DatabaseUnavailable as exc:
            return _unavailable(metrics, "annotate", "annotate", exc)
        except TimeoutError:
            return _unavailable(metrics, "annotate", "annotate", DatabaseUnavailable(
                f"database did not answer in {answer_seconds:g} s"))
        answer = annotate_answer(req, rollouts, routing, default_channel=settings.default_slack_channel)
        metrics.answered("annotate", "annotate", answer.status, attached=len(answer.rollout_ids),
                         seconds=time.perf_counter() - started)
        log.info("rollout_annotated", kind=req.kind, namespace=req.namespace, deployment=req.deployment,
                 status=answer.status, rollout_ids=answer.rollout_ids)
        return JSONResponse(answer.model_dump())

    add_health_routes(app, db=db, checks=checks, registries=[metrics.registry])

    app.openapi = lambda: _openapi_schemas(app)  # type: ignore[method-assign]
    add_slack_routes(app, settings=settings, db=db)
    return app


def annotate_answer(req: AnnotateRequest, rollouts: Sequence[Rollout], routing: Routing, *,
                    default_channel: str) -> AnnotateResponse:
    """What an annotate call is answered (pure): the rollouts it reached, and the team and channel the
    notifier will address: the rollout's annotations, else the routing file, else the default channel."""
    project, team, channel = req.project, req.team, req.slack_channel
    if rollouts:
        first = rollouts[0]
        project = first.git_project or req.project or first.gitlab_app
        team, channel = first.team, first.slack_channel
    route = routing.route_for(project, team)
    return AnnotateResponse(
        status="attached" if rollouts else "staged", rollout_ids=[r.id for r in rollouts],
        team=team or (route.team if route else None),
        slack_channel=channel or (route.slack_channel if route else None) or default_channel,
    )


def parse_hook(known: tuple[str, type[Hook]] | None, fields: dict[str, Any]) -> tuple[str, Hook | str]:
    """The event kind and the hook a body carries, `known` being what its X-Gitlab-Event header named
    (None: a System Hook, or no header); instead of the hook, why it is ignored (pure)."""
    body_kind = fields.get("object_kind") or fields.get("event_name")
    body_kind = KIND_ALIASES.get(body_kind, body_kind) if isinstance(body_kind, str) else None
    if known is not None:
        kind, model = known
        if body_kind is not None and body_kind != kind:
            return kind, "object_kind does not match X-Gitlab-Event"
    else:  # System Hook (or no event header): the body says what it is
        system_model = KIND_MODELS.get(body_kind) if body_kind else None
        if body_kind is None or system_model is None:
            return "other", "object kind not used"
        kind, model = body_kind, system_model
    reshaped = reshape(kind, fields)
    reshaped["object_kind"] = kind
    return kind, validate_tolerantly(model, reshaped)


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

