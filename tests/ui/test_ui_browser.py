"""The history pages in a real browser: headless Chromium (Debian's package) driven by Playwright.

Also regenerates the README's screenshots (docs/img/ui-rollouts.png, docs/img/ui-rollout.png) from
the deterministic seed, so they cannot drift from the templates.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from fyr.db.engine import Database
from fyr.models.rollout import RolloutStatus
from tests.ui.conftest import ui_server
from tests.ui.seed import BASE, HOSTILE, Spec, seed

pytestmark = pytest.mark.asyncio
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is needed for the browser tests (.ci/run installs it: apt-get install chromium)")
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


async def test_list_filters_and_screenshot(database: Database, browser: Browser) -> None:
    await seed(database)
    async with ui_server(database) as base:
        page = await browser.new_page(viewport={"width": 1280, "height": 860}, color_scheme="light")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(f"{base}/ui/")
        assert await page.locator("tr.row").count() == 8
        IMG.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(IMG / "ui-rollouts.png"))
        await page.select_option("select[name=status]", "FAILED")
        await page.fill("input[name=namespace]", "shop")
        await page.click("form.filters button[type=submit]")
        await page.wait_for_url("**/ui/?*status=FAILED*")
        rows = await page.locator("tr.row td:first-child a").all_inner_texts()
        assert sorted(rows) == ["shop/catalog", "shop/checkout"]
        assert errors == []  # the CSP blocked nothing the page needs


async def test_detail_shows_the_context_and_hostile_text_stays_text(database: Database, browser: Browser) -> None:
    ids = await seed(database)
    async with ui_server(database) as base:
        page = await browser.new_page(viewport={"width": 1280, "height": 1400}, color_scheme="dark")
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        await page.goto(f"{base}/ui/rollouts/{ids[-1]}")
        assert "Rollout failed: shop/checkout" in await page.inner_text("h1")
        context = await page.inner_text("pre.context-json")
        assert '"logs"' in context and "PAYMENT_API_URL" in context
        assert "777 context tokens" in await page.inner_text("section.context h2")
        await page.screenshot(path=str(IMG / "ui-rollout.png"), full_page=True)
        await page.goto(f"{base}/ui/rollouts/{ids[0]}")
        assert HOSTILE in await page.inner_text("section.analysis")
        assert await page.locator("section.analysis script, section.analysis img").count() == 0
        assert await page.locator("a[href^='javascript:']").count() == 0
        await page.wait_for_timeout(300)
        assert dialogs == []


async def test_new_rollouts_appear_without_reload(database: Database, browser: Browser) -> None:
    await seed(database)
    async with ui_server(database) as base:
        page = await browser.new_page()
        await page.goto(f"{base}/ui/?team=payments")
        assert await page.locator("tr.row").count() == 2
        ids = await seed(database, [Spec("shop", "checkout", 3, RolloutStatus.FAILED, "crash_loop", "failed again",
                                         team="payments"),
                                    Spec("data", "nightly-etl", 6, RolloutStatus.FAILED, "scheduling", "other team",
                                         team="data")], now=BASE + timedelta(days=6))
        await page.wait_for_selector(f'tr.row[data-id="{ids[0]}"]', timeout=15_000)
        assert await page.locator("tr.row").count() == 3  # the other team's row stays out
        assert "failed again" in await page.inner_text("tbody tr:first-child")


async def test_token_wall_in_the_browser(database: Database, browser: Browser) -> None:
    await seed(database)
    async with ui_server(database, ui_token="correct horse battery staple") as base:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        resp = await page.goto(f"{base}/ui/")
        assert resp is not None and resp.status == 401
        assert "checkout" not in await page.content()
        await page.fill("input[name=token]", "wrong")
        async with page.expect_navigation():
            await page.click("section.login button[type=submit]")
        assert "Wrong token" in await page.inner_text("main")
        await page.fill("input[name=token]", "correct horse battery staple")
        async with page.expect_navigation():
            await page.click("section.login button[type=submit]")
        await page.wait_for_selector("tr.row")
        cookies = await ctx.cookies()
        session = next(c for c in cookies if c["name"] == "fyr_ui_session")
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert "correct horse" not in session["value"]


async def test_readable_on_a_phone(database: Database, browser: Browser) -> None:
    ids = await seed(database)
    async with ui_server(database) as base:
        page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        for path in ("/ui/", f"/ui/rollouts/{ids[-1]}", "/ui/stats"):
            await page.goto(base + path)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
