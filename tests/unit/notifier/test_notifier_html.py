"""The Slack-look HTML of a message: every block kind shows, untrusted text never becomes markup."""

from __future__ import annotations

from fyr.services.notifier.html import block, mrkdwn, page
from fyr.services.notifier.render import MessageView, RenderedMessage, render_failure, render_recovery


def test_a_log_line_with_markup_shows_as_text() -> None:
    view = MessageView(rollout_id=1, cluster="c", namespace="ns", deployment="d", generation=2, status="FAILED",
                       summary="boom", evidence=("<script>alert(1)</script> <!channel> <https://evil.example|x>",))
    html = page([(render_failure(view), False)], channel="#t")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://evil.example"' not in html  # inside a code block: text, as Slack shows it
    assert "&lt;!channel&gt;" in html


def test_mrkdwn_bold_code_links_and_fences() -> None:
    out = mrkdwn("*Root cause*\nsee `KeyError` in <https://gitlab.example/a?b=1&amp;c=2|the MR>\n```\nx < y\n```")
    assert "<b>Root cause</b><br>" in out and "<code>KeyError</code>" in out
    assert '<a href="https://gitlab.example/a?b=1&amp;c=2">the MR</a>' in out
    assert '<pre class="code">x &lt; y</pre>' in out
    assert "<a" not in mrkdwn("<javascript:alert(1)|click>")


def test_fields_context_and_thread_replies() -> None:
    view = MessageView(rollout_id=9, cluster="c", namespace="shop", deployment="api", generation=3,
                       status="FAILED", team="payments", category="oom_killed")
    html = page([(render_failure(view), False), (render_recovery(view), True)], channel="#team-payments")
    assert html.count('class="field"') >= 5 and 'class="context"' in html
    assert 'class="message reply"' in html and "Recovered" in html
    assert '<div class="channel"># team-payments</div>' in html


def test_buttons_actions_divider_and_unknown_blocks_render_generically() -> None:
    actions = {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "style": "primary",
         "action_id": "ack"},
        {"type": "button", "text": {"type": "plain_text", "text": "Roll back"}, "style": "danger"},
        {"type": "button", "text": {"type": "plain_text", "text": "Open <pipeline>"},
         "url": "https://gitlab.example/p/1"},
    ]}
    html = block(actions)
    assert '<span class="button primary">Acknowledge</span>' in html
    assert '<span class="button danger">Roll back</span>' in html
    assert '<a class="button default" href="https://gitlab.example/p/1">Open &lt;pipeline&gt;</a>' in html
    section = block({"type": "section", "text": {"type": "mrkdwn", "text": "hi"},
                     "accessory": {"type": "button", "text": {"type": "plain_text", "text": "View"}}})
    assert 'class="accessory"' in section and "View" in section
    assert block({"type": "divider"}) == '<hr class="divider">'
    assert "[rich_text block]" in block({"type": "rich_text"})
    assert "fallback only" in page([(RenderedMessage(text="fallback only"), False)], channel="#x")
