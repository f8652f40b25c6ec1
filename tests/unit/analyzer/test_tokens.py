"""Token counting is the cl100k_base encoding, loaded offline, and truncation respects the budget."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fyr.services.analyzer.tokens import count_tokens, encoding, truncate_to_tokens

pytestmark = pytest.mark.timeout(60)


def test_encoding_matches_published_cl100k_token_ids() -> None:
    # Reference ids from OpenAI's cl100k_base (tiktoken's own tests use "hello world").
    assert encoding().encode_ordinary("hello world") == [15339, 1917]
    assert count_tokens("tiktoken is great!") == 6
    assert count_tokens("") == 0


def test_special_token_text_in_logs_is_counted_not_rejected() -> None:
    assert count_tokens("log says <|endoftext|> here") > 3


def test_loads_with_network_unreachable_and_empty_cache(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network disabled in test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from fyr.services.analyzer.tokens import count_tokens, encoding
        assert encoding().encode_ordinary("hello world") == [15339, 1917]
        print(count_tokens("the quick brown fox"))
        """
    )
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    cache.chmod(0o500)  # read-only: nothing may be written there either
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TIKTOKEN_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"
    assert list(cache.iterdir()) == []


def test_text_within_budget_is_returned_unchanged() -> None:
    text = "short line of log"
    assert truncate_to_tokens(text, 50) == text


def test_truncation_keeps_head_and_marker_within_budget() -> None:
    text = "word " * 1000
    out = truncate_to_tokens(text, 20)
    assert out.startswith("word word")
    assert out.endswith("…[truncated]")
    assert count_tokens(out) <= 20


def test_truncation_never_splits_a_multibyte_character() -> None:
    out = truncate_to_tokens("日本語のテキスト🙂" * 50, 9, marker="[cut]")
    assert "\ufffd" not in out
    assert count_tokens(out) <= 9
    assert out.endswith("[cut]")


def test_budget_smaller_than_marker_returns_bare_head() -> None:
    out = truncate_to_tokens("alpha beta gamma delta epsilon", 2, marker="…[truncated]")
    assert count_tokens(out) <= 2
    assert out.startswith("alpha")
    assert truncate_to_tokens("anything", 0) == ""


def test_truncating_a_huge_text_only_reads_its_head() -> None:
    text = "x1 " * 2_000_000  # 6 MB
    out = truncate_to_tokens(text, 100)
    assert count_tokens(out) <= 100
    assert len(out) < 1000
