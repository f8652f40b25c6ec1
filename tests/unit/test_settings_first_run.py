"""Settings as people type them: lists with commas, levels in any case, JSON mistakes named in one line."""

from __future__ import annotations

import pytest

from fyr.errors import ConfigError
from fyr.settings import load_settings


@pytest.mark.parametrize(("raw", "expected"), [
    ("shop", ["shop"]), ("shop,payments", ["shop", "payments"]), (" shop , payments ", ["shop", "payments"]),
    ('["shop", "payments"]', ["shop", "payments"]), ("[]", []), ("", []),
])
def test_watch_namespaces_take_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch, raw: str,
                                                    expected: list[str]) -> None:
    monkeypatch.setenv("FYR_WATCH_NAMESPACES", raw)
    assert load_settings().watch_namespaces == expected


def test_log_level_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


def test_a_dict_setting_that_is_not_json_names_the_variable_and_shows_an_example(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FYR_LLM_PRICES", "{bad")
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith("invalid setting FYR_LLM_PRICES: not valid JSON")
    assert '"input_per_mtok"' in message and "\n" not in message
