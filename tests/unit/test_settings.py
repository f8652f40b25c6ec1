from __future__ import annotations

import pytest

from fyr.errors import ConfigError
from fyr.settings import DEFAULT_DATABASE_URL, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FYR_") or name in (
            "DATABASE_URL",
            "MYSQL_URL",
            "SLACK_BOT_TOKEN",
            "OPENAI_API_KEY",
            "CLUSTER_NAME",
            "LOG_LEVEL",
            "SLACK_API_URL",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


def test_embedded_default_needs_no_setting() -> None:
    s = load_settings()
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.context_tokens == 4000 and not s.llm_enabled
    assert s.slack_api_url == "https://slack.com/api/"


def test_mysql_url_is_accepted_as_alias_of_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYSQL_URL", "mysql://fyr:pw@db/fyr")
    assert load_settings().database_url == "mysql://fyr:pw@db/fyr"


def test_contract_names_are_read_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FYR_LLM", "openai")
    monkeypatch.setenv("FYR_LLM_MODEL", "gpt-4.1-mini")
    monkeypatch.setenv("FYR_CONTEXT_TOKENS", "3000")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("CLUSTER_NAME", "prod-eu-1")
    s = load_settings()
    assert (s.llm, s.llm_model, s.context_tokens, s.cluster_name) == ("openai", "gpt-4.1-mini", 3000, "prod-eu-1")
    assert s.slack_api_url == "http://127.0.0.1:9/api/" and s.llm_enabled


def test_openai_key_alone_enables_the_llm_and_none_forces_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert load_settings().llm_enabled
    monkeypatch.setenv("FYR_LLM", "none")
    assert not load_settings().llm_enabled


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FYR_CONTEXT_TOKENS", "lots", "FYR_CONTEXT_TOKENS"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("DATABASE_URL", "postgres://x", "DATABASE_URL"),
        ("FYR_LLM", "claude", "FYR_LLM"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_dotenv_file_is_read(tmp_path: object) -> None:
    from pathlib import Path

    Path(".env").write_text("CLUSTER_NAME=from-dotenv\nFYR_ANALYZER_CONCURRENCY=7\n")
    s = load_settings()
    assert s.cluster_name == "from-dotenv" and s.analyzer_concurrency == 7


def test_gitlab_hosts_from_a_comma_separated_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FYR_GITLAB_HOSTS", "gitlab.acme.io, git.corp.example")
    assert load_settings(_env_file=None).gitlab_hosts == ["gitlab.acme.io", "git.corp.example"]
    monkeypatch.setenv("FYR_GITLAB_HOSTS", '["gitlab.acme.io"]')
    assert load_settings(_env_file=None).gitlab_hosts == ["gitlab.acme.io"]


_TOKENS = {
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-settingsleakcheck",
    "FYR_SLACK_SIGNING_SECRET": "signing-settingsleakcheck",
    "GITLAB_INGESTOR_TOKEN": "gitlab-settingsleakcheck",
    "OPENAI_API_KEY": "sk-settingsleakcheck",
    "FYR_UI_TOKEN": "ui-settingsleakcheck",
    "DATABASE_URL": "mysql+aiomysql://fyr:dbpw-settingsleakcheck@db/fyr",
}


def test_no_token_value_shows_in_repr_log_lines_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import json
    import os
    import subprocess
    import sys

    import structlog

    from fyr.logging import configure_logging
    from fyr.settings import secret_value

    for name, value in _TOKENS.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    # the values are there, for the clients that need them
    assert secret_value(s.slack_bot_token) == _TOKENS["SLACK_BOT_TOKEN"]
    assert secret_value(s.openai_api_key) == _TOKENS["OPENAI_API_KEY"]
    assert secret_value(s.gitlab_ingestor_token) == _TOKENS["GITLAB_INGESTOR_TOKEN"]
    assert s.database_url == _TOKENS["DATABASE_URL"]
    stream = io.StringIO()
    configure_logging(service="test", fmt="json", stream=stream)
    structlog.get_logger().info("settings_loaded", settings=s, fields=s.model_dump())
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "settings_loaded" and "**********" in stream.getvalue()
    shown = [repr(s), str(s), stream.getvalue()]
    # and `fyr` failing on a bad setting, with every token set
    env = {**os.environ, "FYR_CONTEXT_TOKENS": "lots"}
    failed = subprocess.run([sys.executable, "-m", "fyr", "analyze", "--bundle", "missing.json"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert failed.returncode != 0 and "FYR_CONTEXT_TOKENS" in failed.stderr
    shown += [failed.stdout, failed.stderr]
    assert [text for text in shown if "settingsleakcheck" in text] == []
