"""Settings from the environment and `.env` (docs/contracts.md 'Settings', docs/architecture.md 'Configuration,
logging, metrics').

Contract names (`DATABASE_URL`/`MYSQL_URL`, `SLACK_BOT_TOKEN`, `SLACK_API_URL`, `GITLAB_INGESTOR_TOKEN`,
`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `CLUSTER_NAME`, `LOG_LEVEL`, `DEFAULT_SLACK_CHANNEL`) are read as
they are; everything else is `FYR_<FIELD>`. Nothing here is built at import time: `load_settings()`
is called by the CLI and the result passed down. Every field says its unit and why its default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from fyr.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./fyr.db"


class ModelPrice(BaseModel):
    """USD per 1,000,000 tokens, as providers publish them."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


def _default_prices() -> dict[str, ModelPrice]:
    # Published list prices (USD / 1M tokens); override with FYR_LLM_PRICES='{"model": {...}}'.
    return {
        "gpt-4o-mini": ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60),
        "gpt-4o": ModelPrice(input_per_mtok=2.50, output_per_mtok=10.00),
        "gpt-4.1-mini": ModelPrice(input_per_mtok=0.40, output_per_mtok=1.60),
        "gpt-4.1": ModelPrice(input_per_mtok=2.00, output_per_mtok=8.00),
    }


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FYR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- shared -------------------------------------------------------------------------------
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        validation_alias=_alias("DATABASE_URL", "MYSQL_URL"),
        repr=False,  # may carry the database password; shown only through db.engine's masked form
        description="SQLAlchemy URL; mysql://, mysql+aiomysql://, sqlite:///path. SQLite file by default.",
    )
    cluster_name: str = Field("ci-cluster", validation_alias=_alias("CLUSTER_NAME"), min_length=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias=_alias("LOG_LEVEL")
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a TTY, JSON lines otherwise"
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="connections per process (MySQL)")

    # --- slack / notifier ---------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_alias("SLACK_BOT_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_alias("SLACK_API_URL"))
    default_slack_channel: str = Field("#deployments", validation_alias=_alias("DEFAULT_SLACK_CHANNEL"))
    notify_max_attempts: int = Field(6, ge=1, description="attempts before notify_status=FAILED")
    notify_lease_seconds: float = Field(60.0, gt=0, description="how long one claim may hold a rollout")
    notify_concurrency: int = Field(10, ge=1, description="channels served in parallel")
    notify_thread_window_seconds: float = Field(
        6 * 3600.0, ge=0, description="same deployment+signature within this goes as a thread reply"
    )
    slack_channel_interval_seconds: float = Field(
        1.0, ge=0, description="Slack allows about one message per second per channel"
    )
    notify_auth_retry_seconds: float = Field(
        30.0, gt=0, description="pause after Slack rejects the token (auth.test probes it); doubles up to 10 min"
    )
    routing_file: Path | None = Field(None, description="YAML: project glob -> team, slack_channel")

    # --- gitlab ingestor ----------------------------------------------------------------------
    gitlab_ingestor_token: SecretStr | None = Field(None, validation_alias=_alias("GITLAB_INGESTOR_TOKEN"))
    ingestor_max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="GitLab's own maximum")
    ingestor_max_bytes_in_flight: int = Field(
        100 * 1024 * 1024, ge=1024, description="webhook body bytes read at once; past it 503 + Retry-After")
    ingestor_answer_seconds: float = Field(
        5.0, gt=0, description="a webhook waits this long for the database, then 503 (GitLab gives up at 10 s)")

    # --- llm / analyzer -----------------------------------------------------------------------
    gitlab_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="hosts of your GitLab instances (comma-separated or a JSON list): the only hosts a Slack "
                    "message links to (pipeline, MR, commit; anything else is shown as text), and besides "
                    "kubernetes.io, the runtimes' docs, image registries and in-cluster names the only ones an "
                    "analysis may link to",
    )
    openai_api_key: SecretStr | None = Field(None, validation_alias=_alias("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_alias("OPENAI_BASE_URL"))
    llm: Literal["auto", "openai", "none"] = Field(
        "auto", description="auto: openai when OPENAI_API_KEY is set, else rules only"
    )
    llm_model: str = Field("gpt-4o-mini", min_length=1)
    llm_timeout_seconds: float = Field(60.0, gt=0)
    llm_prices: dict[str, ModelPrice] = Field(default_factory=_default_prices)
    context_tokens: int = Field(4000, ge=500, le=200_000, description="hard budget of the reduced context")
    analyzer_concurrency: int = Field(4, ge=1, le=256, description="analyses in flight per process")
    analysis_max_attempts: int = Field(4, ge=1, description="then the rules' analysis is stored")
    analysis_lease_seconds: float = Field(300.0, gt=0, description="long enough for a slow LLM call")
    analysis_reuse_window_seconds: float = Field(
        24 * 3600.0, ge=0, description="same failure signature within this reuses the analysis"
    )
    llm_budget_usd_per_day: float | None = Field(
        None, gt=0, description="past this estimated spend per UTC day the rules' analysis is stored"
    )
    analysis_retry_base_seconds: float = Field(
        2.0, gt=0, description="first backoff after 429/5xx/timeout without Retry-After; doubles"
    )
    analysis_retry_max_seconds: float = Field(
        300.0, gt=0, description="cap of that backoff and of Retry-After"
    )
    collector_tail_lines: int = Field(2000, ge=1, description="per container log")
    collector_limit_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="per container log")

    # --- watcher ------------------------------------------------------------------------------
    kubeconfig: Path | None = Field(None, validation_alias=_alias("KUBECONFIG", "FYR_KUBECONFIG"))
    kube_context: str | None = Field(None, description="kubeconfig context; none: the file's current-context")
    watch_namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="empty: all namespaces; `shop,payments` or a JSON list"
    )
    watch_label_selector: str | None = None
    crashloop_restarts: int = Field(3, ge=1, description="CrashLoopBackOff at this restartCount fails early")
    oom_restarts: int = Field(2, ge=1, description="OOMKilled at this restartCount fails early")
    pending_fail_seconds: float | None = Field(
        None, gt=0, description="fail on scheduling/create/mount signals after this long; off by default"
    )
    watch_timeout_seconds: int = Field(300, ge=10, description="server-side watch timeout per round")
    watch_inactivity_seconds: float = Field(
        90.0, gt=0, description="no byte on a watch (not even a bookmark) for this long: reconnect"
    )
    watch_page_size: int = Field(500, ge=1, description="objects per list page; bounds memory on relist")
    watcher_write_failure_ready_seconds: float = Field(
        60.0, gt=0, description="/readyz turns red once the watcher's writes have failed this long"
    )

    # --- retention (the pruning loop runs with the watcher and/or the ingestor) -----------------
    retention_days: float = Field(
        90.0, ge=0, description="days of rollout history (with analyses) kept; the newest generation of "
                                "each Deployment and queued rows are always kept; 0: forever"
    )
    retention_deliveries_days: float = Field(
        7.0, ge=0, description="days a webhook delivery id is kept to drop a repeat; 0: forever"
    )
    retention_staging_days: float = Field(
        30.0, ge=0, description="days staged GitLab metadata waits for its rollout; 0: forever"
    )
    retention_interval_seconds: float = Field(3600.0, gt=0, description="time between two pruning rounds")
    retention_batch_size: int = Field(
        500, ge=1, le=10_000, description="rows per delete transaction: short locks, never a table scan"
    )

    # --- history page ---------------------------------------------------------------------------
    ui_token: SecretStr | None = Field(
        None, description="when set, every /ui request needs it (Authorization: Bearer, or the login form)")
    public_url: str | None = Field(
        None, description="where people reach Fyr's pages (https://fyr.example.com); Slack links there")
    # --- Slack interactivity (buttons on the failure message) --------------------------------------
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_alias("SLACK_SIGNING_SECRET"),
        description="Slack app's signing secret; POST /slack/interactions is served only when it is set")
    mute_hours: float = Field(24.0, gt=0, le=24 * 30, description="how long the Mute button mutes a workload")
    slack_action_users: str = Field(
        "", description="comma-separated Slack user ids allowed to mute (empty: anyone in the channel)")

    # --- services -----------------------------------------------------------------------------
    poll_interval_seconds: float = Field(1.0, gt=0, description="queue poll when no wake-up arrives")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("watch_namespaces", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """`shop,payments` (what people type) or a JSON list (what the Helm chart writes)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list ({exc.msg}); write shop,payments or [\"shop\"]") from None
        return [part for part in re.split(r"[,\s]+", text) if part]

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite", "mysql", "mariadb")):
            raise ValueError("must be a sqlite:// or mysql:// URL")
        return value

    @field_validator("gitlab_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [h.strip() for h in text.split(",") if h.strip()]
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("public_url")
    @classmethod
    def _public_http(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @property
    def action_users(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.slack_action_users.split(",") if u.strip())

    @property
    def llm_enabled(self) -> bool:
        if self.llm == "none":
            return False
        if self.llm == "openai":
            return True
        return bool(self.openai_api_key)


def secret_value(secret: SecretStr | None) -> str:
    """The value of a secret setting, '' when unset: read only where a client or a request needs it."""
    return secret.get_secret_value() if secret is not None else ""


def env_name(field: str) -> str:
    """The environment variable a user sets for `field` (for error messages)."""
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        return str(first)
    return f"FYR_{field.upper()}"


_EXAMPLES = {
    "FYR_LLM_PRICES": '''{"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}''',
}


def load_settings(**overrides: object) -> Settings:
    """Build settings; a bad value raises ConfigError naming the variable in one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:
        # pydantic-settings could not decode a complex value (a dict or list setting) as JSON.
        field = re.search(r'field "([^"]+)"', str(exc))
        name = env_name(field.group(1)) if field else "a setting"
        cause = exc.__cause__
        why = f"not valid JSON ({cause.msg} at column {cause.colno})" if isinstance(
            cause, json.JSONDecodeError) else str(cause or exc)
        raise ConfigError(f"invalid setting {name}: {why}; it must be JSON, e.g. "
                          f"{_EXAMPLES.get(name, '{...}')}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "?"
        name = loc if loc.isupper() else env_name(loc)
        raise ConfigError(f"invalid setting {name}: {err['msg']}") from None
