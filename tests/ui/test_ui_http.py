"""The history pages over HTTP: list, filters, paging, detail, stats, escaping, the token wall."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from fyr.db.engine import Database
from fyr.models.rollout import RolloutStatus
from fyr.ui.app import COOKIE
from tests.ui.conftest import ui_server
from tests.ui.seed import BASE, SPECS, Spec, seed

pytestmark = pytest.mark.asyncio


def workloads(html: str) -> list[str]:
    return re.findall(r'<a href="/ui/rollouts/\d+">([^<]+)</a>', html)


async def test_list_shows_every_rollout_newest_first(database: Database) -> None:
    await seed(database)
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        resp = await c.get("/ui/")
    assert resp.status_code == 200
    names = workloads(resp.text)
    assert len(names) == len(SPECS)
    assert names[0] == "shop/checkout" and names[-1] == "evil/hostile"  # newest first
    assert "KeyError: &#39;PAYMENT_API_URL&#39;" in resp.text
    assert "https://gitlab.acme.example/acme/checkout/-/pipelines/91001" in resp.text
    assert "#team-payments" in resp.text or "C0PAYMENTS1" in resp.text


@pytest.mark.parametrize(("query", "expected"), [
    ("status=FAILED", {"shop/checkout", "shop/catalog", "billing/invoicer", "data/nightly-etl", "evil/hostile"}),
    ("team=storefront", {"shop/catalog", "web/frontend", "shop/cart"}),
    ("category=oom_killed", {"billing/invoicer"}),
    ("cluster=prod-us-1", {"billing/invoicer"}),
    ("namespace=shop&status=FAILED", {"shop/checkout", "shop/catalog"}),
    ("since=2026-12-04T06:30:00", {"shop/checkout", "shop/catalog"}),
    ("until=2026-12-01", {"shop/cart", "evil/hostile"}),
    ("kind=Deployment&team=data", {"data/nightly-etl"}),
    ("kind=StatefulSet", set()),
    ("status=nonsense", {s.namespace + "/" + s.deployment for s in SPECS}),  # unknown value: no filter
])
async def test_filters_narrow_the_list(database: Database, query: str, expected: set[str]) -> None:
    await seed(database)
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        resp = await c.get(f"/ui/?{query}")
    assert resp.status_code == 200
    assert set(workloads(resp.text)) == expected


async def test_paging_walks_the_whole_history_by_id(database: Database) -> None:
    specs = [Spec("load", f"svc-{i:03d}", 1, RolloutStatus.SUCCESS, minutes=i) for i in range(120)]
    await seed(database, specs)
    seen: list[str] = []
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        url = "/ui/"
        while url:
            html = (await c.get(url)).text
            seen += workloads(html)
            older = re.search(r'href="(/ui/\?[^"]*before=\d+)">Older', html)
            url = older.group(1).replace("&amp;", "&") if older else ""
        back = re.search(r'href="(/ui/\?[^"]*after=\d+)">← Newer', html)
        assert back is not None
        newer_page = workloads((await c.get(back.group(1).replace("&amp;", "&"))).text)
    assert len(seen) == 120 and len(set(seen)) == 120
    assert seen[0] == "load/svc-000" and seen[-1] == "load/svc-119"
    assert newer_page == seen[50:100]


async def test_live_rows_returns_only_newer_rollouts(database: Database) -> None:
    ids = await seed(database)
    newest = max(ids)
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        assert workloads((await c.get(f"/ui/rows?after={newest}")).text) == []
        await seed(database, [Spec("shop", "checkout", 3, RolloutStatus.FAILED, "crash_loop", "again",
                                   team="payments")], now=BASE + timedelta(days=5))
        fresh = (await c.get(f"/ui/rows?after={newest}&team=payments")).text
        assert workloads(fresh) == ["shop/checkout"]
        assert workloads((await c.get(f"/ui/rows?after={newest}&team=data")).text) == []


async def test_detail_shows_analysis_context_cost_timeline_and_generations(database: Database) -> None:
    ids = await seed(database)
    checkout2 = ids[-1]  # the newest: shop/checkout generation 2
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        resp = await c.get(f"/ui/rollouts/{checkout2}")
    html = resp.text
    assert resp.status_code == 200
    assert "Rollout failed: shop/checkout" in html
    assert "crash_loop" in html and "high confidence" in html
    assert "KeyError: &#39;PAYMENT_API_URL&#39;" in html
    assert "777 context tokens" in html and "$0.00042" in html and "gpt-4o-mini" in html
    assert "&#34;logs&#34;" in html  # the reduced context, as JSON
    for step in ("detected", "failed", "analysed", "notified"):
        assert f"<strong>{step}</strong>" in html
    assert "https://slack.com/archives/C0PAYMENTS1/p" in html
    assert re.search(r'href="/ui/rollouts/\d+">1</a>', html)  # the older generation is linked
    assert "acme/checkout/-/commit/4f2a9c1e" in html


async def test_detail_timeline_lists_the_slack_clicks(database: Database) -> None:
    from fyr.db import actions as actions_db

    ids = await seed(database)
    async with database.session() as s:
        await actions_db.record_action(s, rollout_id=ids[-1], action="reanalyse", user_id="U0ONCALL",
                                       user_name="oncall", dedupe_key="k1")
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        html = (await c.get(f"/ui/rollouts/{ids[-1]}")).text
    assert "<strong>clicked reanalyse</strong>" in html and "by oncall" in html


async def test_hostile_text_is_rendered_as_text_and_unsafe_links_are_not_links(database: Database) -> None:
    ids = await seed(database)
    hostile = ids[0]  # the oldest: evil/hostile
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        pages = [(await c.get(u)).text for u in ("/ui/", f"/ui/rollouts/{hostile}", "/ui/?team=red-team")]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
        assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in pages[1]
    assert "javascript:alert(document.cookie)" in pages[1]  # shown, as text


async def test_security_headers_and_no_write_routes(database: Database) -> None:
    ids = await seed(database)
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        resp = await c.get(f"/ui/rollouts/{ids[0]}")
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in resp.text and " style=" not in resp.text  # nothing inline
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert (await c.request(method, f"/ui/rollouts/{ids[0]}")).status_code == 405
        assert (await c.get("/ui/rollouts/999999")).status_code == 404
        assert (await c.get("/ui/static/../../settings.py")).status_code == 404


async def test_stats_draws_failures_per_category_team_and_spend(database: Database) -> None:
    await seed(database, now=BASE + timedelta(days=4))
    async with ui_server(database) as base, httpx.AsyncClient(base_url=base) as c:
        html = (await c.get("/ui/stats?days=90")).text
    assert html.count("<svg class=\"chart\"") == 3
    for name in ("crash_loop", "oom_killed", "scheduling", "payments", "billing"):
        assert name in html
    assert "5</strong> failures" in html
    assert "1.5 s" in html  # the median failure → message time of the seed
    assert "$0.0007" in html  # 0.00042 + 0.00031


async def test_token_wall_holds_for_every_page(database: Database) -> None:
    ids = await seed(database)
    token = "ui-token-0123456789"
    async with ui_server(database, ui_token=token) as base, httpx.AsyncClient(base_url=base) as c:
        for path in ("/ui/", f"/ui/rollouts/{ids[-1]}", "/ui/stats", "/ui/rows?after=0", "/ui/static/ui.js"):
            resp = await c.get(path)
            assert resp.status_code == 401, path
            assert "checkout" not in resp.text and "KeyError" not in resp.text
            wrong = await c.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            ok = await c.get(path, headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200, path
        bad = await c.post("/ui/login", data={"token": "guess"})
        assert bad.status_code == 401 and COOKIE not in bad.headers.get("set-cookie", "")
        good = await c.post("/ui/login", data={"token": token})
        assert good.status_code == 303
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and token not in cookie
        assert (await c.get("/ui/")).status_code == 200  # the cookie jar now holds the session
        await c.post("/ui/logout")
        assert (await c.get("/ui/")).status_code == 401
