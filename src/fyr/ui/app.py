"""The history pages (`fyr ui`, and `/ui` under `fyr all`): every rollout, its analysis and exactly
what the model saw, server-rendered.

Read-only: every route is a GET except the login form, which only sets a cookie. Logs are hostile
input, so every value goes through Jinja's autoescape and links are drawn only for http(s) URLs.
The Content-Security-Policy allows no inline script or style (the one script and stylesheet are
served from /ui/static), pages may not be framed, and no Referer leaves the page (rollout ids stay
in-house). With `FYR_UI_TOKEN` set, a request needs `Authorization: Bearer <token>` or the session
cookie the login form sets (HttpOnly, SameSite=Strict, derived from the token, never the token
itself); without it the answer is 401 and the login form, no data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from fyr.db.engine import Database
from fyr.models.rollout import RolloutStatus
from fyr.services.notifier.render import render_failure, view_from_rows
from fyr.settings import Settings
from fyr.ui import charts, queries
from fyr.ui.queries import Filters

PREFIX = "/ui"
COOKIE = "fyr_ui_session"
LOGIN_BODY_MAX = 4096
CHOICES_TTL_S = 60.0  # the filter menus' suggestions: recomputed at most once a minute

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
_DURATION = re.compile(r"^(\d+)([hdw])$")
_SLACK_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
CATEGORIES = ("image_pull", "crash_loop", "oom_killed", "config_error", "probe_failure", "scheduling",
              "create_failed", "mount_failure", "progress_deadline", "unknown")
KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def session_value(token: str) -> str:
    """The cookie's value: proves the token was given without storing it in the browser."""
    return hmac.new(token.encode(), b"fyr-ui-session-v1", hashlib.sha256).hexdigest()


def authorized(request: Request, token: str | None) -> bool:
    if not token:
        return True
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), session_value(token).encode())


def http_url(url: str | None) -> str | None:
    """Only absolute http(s) URLs become links; anything else (javascript:, data:, relative) is text."""
    if not url:
        return None
    u = url.strip()
    return u if re.match(r"^https?://[^\s/]", u, re.IGNORECASE) else None


def slack_permalink(channel: str | None, ts: str | None) -> str | None:
    if not channel or not ts or not _SLACK_ID.match(channel) or not re.fullmatch(r"\d+\.\d+", ts):
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def commit_link(pipeline_url: str | None, commit: str | None) -> str | None:
    base = http_url(pipeline_url)
    if not base or not commit or "/-/pipelines/" not in base or not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit):
        return None
    return base.split("/-/pipelines/")[0] + "/-/commit/" + commit


def _when(value: str | None, *, end: bool = False) -> datetime | None:
    """`24h`, `7d`, `2w` (that long ago) or an ISO date/time (UTC when no zone is given)."""
    if not value:
        return None
    v = value.strip()
    m = _DURATION.match(v)
    if m:
        hours = int(m.group(1)) * {"h": 1, "d": 24, "w": 24 * 7}[m.group(2)]
        return datetime.now(UTC) - timedelta(hours=hours)
    try:
        parsed = datetime.fromisoformat(v)
    except ValueError:
        return None
    if len(v) == 10 and end:
        parsed += timedelta(days=1)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filters_from(params: Any) -> tuple[Filters, dict[str, str]]:
    """Filters from the query string; unknown values are dropped (never an error page)."""
    raw = {k: str(params.get(k, "") or "").strip()[:255] for k in
           ("cluster", "namespace", "kind", "team", "status", "category", "since", "until")}
    status = raw["status"].upper()
    raw["status"] = status if status in {s.value for s in RolloutStatus} else ""
    raw["category"] = raw["category"] if raw["category"] in CATEGORIES else ""
    raw["kind"] = raw["kind"] if raw["kind"] in KINDS else ""
    since, until = _when(raw["since"]), _when(raw["until"], end=True)
    if raw["since"] and since is None:
        raw["since"] = ""
    if raw["until"] and until is None:
        raw["until"] = ""
    f = Filters(cluster=raw["cluster"], namespace=raw["namespace"], kind=raw["kind"], team=raw["team"],
                status=raw["status"], category=raw["category"], since=since, until=until)
    return f, {k: v for k, v in raw.items() if v}


def _int(value: Any) -> int | None:
    try:
        n = int(str(value))
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def build_environment() -> Environment:
    env = Environment(loader=PackageLoader("fyr.ui", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["time"] = _fmt_time
    env.filters["seconds"] = _fmt_seconds
    env.filters["http_url"] = http_url
    env.globals["prefix"] = PREFIX
    env.globals["categories"] = CATEGORIES
    env.globals["kinds"] = KINDS
    env.globals["statuses"] = [s.value for s in RolloutStatus]
    env.globals["commit_link"] = commit_link
    return env


def create_ui_app(*, db: Database, settings: Settings) -> FastAPI:
    """The pages as an ASGI app meant to be mounted at /ui."""
    env = build_environment()
    token = settings.ui_token.get_secret_value() if settings.ui_token else None
    choices_cache: dict[str, Any] = {"at": 0.0, "value": None}

    async def choices() -> dict[str, list[str]]:
        if choices_cache["value"] is None or time.monotonic() - choices_cache["at"] > CHOICES_TTL_S:
            async with db.session() as s:
                choices_cache["value"] = await queries.filter_choices(s)
            choices_cache["at"] = time.monotonic()
        return choices_cache["value"]  # type: ignore[no-any-return]
    app = FastAPI(title="fyr-ui", docs_url=None, redoc_url=None, openapi_url=None)

    def page(template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(template).render(auth=bool(token), **ctx)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def denied(error: str = "") -> HTMLResponse:
        resp = page("login.html", 401, error=error)
        resp.headers["WWW-Authenticate"] = 'Bearer realm="fyr"'
        return resp

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        path = request.scope.get("path", "")
        open_path = path.endswith(("/login", "/static/ui.css"))
        if not open_path and not authorized(request, token):
            return denied()
        response: Response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.get("/", response_class=HTMLResponse)
    async def rollouts(request: Request) -> HTMLResponse:
        f, active = filters_from(request.query_params)
        before, after = _int(request.query_params.get("before")), _int(request.query_params.get("after"))
        async with db.session() as s:
            result = await queries.list_page(s, f, before=before, after=after)
        query = urlencode(active)
        return page("list.html", page_=result, filters=active, choices=await choices(), query=query,
                    live=before is None and after is None,
                    newest_id=result.rows[0].id if result.rows else 0)

    @app.get("/rows", response_class=HTMLResponse)
    async def rows(request: Request) -> HTMLResponse:
        f, _ = filters_from(request.query_params)
        after = _int(request.query_params.get("after")) or 0
        async with db.session() as s:
            fresh = await queries.rows_after(s, f, after)
        return page("rows.html", rows=fresh)

    @app.get("/rollouts/{rollout_id}", response_class=HTMLResponse)
    async def rollout(rollout_id: int) -> HTMLResponse:
        async with db.session() as s:
            d = await queries.detail(s, rollout_id)
        if d is None:
            return page("missing.html", 404, rollout_id=rollout_id)
        r = d.rollout
        message = render_failure(view_from_rows(r, d.analysis, d.metric)) if r.failed_at else None
        header = message.blocks[0]["text"]["text"] if message and message.blocks else None
        context = d.analysis.reduced_context if d.analysis else None
        return page("detail.html", d=d, r=r, kind=d.kind, header=header,
                    slack_text=message.text if message else None,
                    analysis=d.analysis.analysis if d.analysis else None,
                    context_json=json.dumps(context, indent=2, ensure_ascii=False) if context is not None else None,
                    permalink=slack_permalink(r.slack_channel_sent, r.slack_ts))

    @app.get("/stats", response_class=HTMLResponse)
    async def stats(request: Request) -> HTMLResponse:
        days = _int(request.query_params.get("days")) or 14
        async with db.session() as s:
            st = await queries.stats(s, days=days)
        charts_ = {
            "category": charts.stacked_bars(st.days, st.by_category, title="Failures per day by category"),
            "team": charts.stacked_bars(st.days, st.by_team, title="Failures per day by team"),
            "spend": charts.stacked_bars(st.days, {"LLM spend": st.spend}, title="LLM spend per day (USD)",
                                         money=True),
        }
        return page("stats.html", st=st, charts=charts_, days=len(st.days),
                    spend_total=sum(st.spend))

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        if token and authorized(request, token):
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        return page("login.html", 200 if not token else 401, error="")

    @app.post("/login")
    async def login(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > LOGIN_BODY_MAX:
                return denied("Token too long.")
        given = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        if not token:
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return denied("Wrong token.")
        resp = RedirectResponse(f"{PREFIX}/", status_code=303, headers=SECURITY_HEADERS)
        secure = request.url.scheme == "https" or (settings.public_url or "").startswith("https://")
        resp.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", secure=secure,
                        path=PREFIX, max_age=12 * 3600)
        return resp

    @app.post("/logout")
    async def logout() -> Response:
        resp = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=SECURITY_HEADERS)
        resp.delete_cookie(COOKIE, path=PREFIX)
        return resp

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in _STATIC:
            return Response(status_code=404, headers=SECURITY_HEADERS)
        data = resources.files("fyr.ui").joinpath("static", name).read_bytes()
        return Response(data, media_type=_STATIC[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"})

    return app


def mount_ui(app: FastAPI, ui: FastAPI) -> None:
    """Serve `ui` under /ui of `app` (the ingestor's or the health server's), /ui → /ui/."""

    @app.get(PREFIX, include_in_schema=False)
    async def _slash() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.mount(PREFIX, ui)


__all__ = ["create_ui_app", "mount_ui", "session_value"]
