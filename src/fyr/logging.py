"""structlog setup: JSON lines off a TTY, readable console on a TTY (docs/architecture.md 'Configuration, logging,
metrics').

Every line carries an ISO timestamp, the level and the service name; stdlib loggers (uvicorn,
sqlalchemy, alembic, kubernetes_asyncio, slack_sdk, httpx) are routed through the same renderer so
that a service writes one format only.

Fyr's own logs are a copy that leaves the process too: `redact_event` runs the redaction layers over
every value (error texts carry database URLs, provider errors echo tokens) and masks whole any value
whose key names a credential, just before rendering, for structlog and stdlib records alike.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from fyr.core.redaction import MASK, redact_text
from fyr.core.redaction.keys import is_credential_key, is_placeholder

_QUIET = {"sqlalchemy.engine": logging.WARNING, "aiosqlite": logging.WARNING, "httpx": logging.WARNING,
          "httpcore": logging.WARNING, "openai": logging.WARNING, "uvicorn.access": logging.WARNING,
          "asyncio": logging.WARNING, "kubernetes_asyncio": logging.WARNING}


def _drop_color_message(
    _logger: object, _name: str, event: structlog.types.EventDict,
) -> structlog.types.EventDict:
    # uvicorn passes a copy of each message with ANSI colour codes as `extra={"color_message": ...}`.
    event.pop("color_message", None)
    return event


_KEPT = frozenset({"timestamp", "level", "service", "logger", "logger_name"})


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def redact_event(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no secret in Fyr's own log lines."""
    for key, value in list(event_dict.items()):
        if key in _KEPT or key.startswith("_"):
            continue
        if isinstance(value, str) and key != "event" and is_credential_key(key) and not is_placeholder(value):
            event_dict[key] = MASK
        else:
            event_dict[key] = _redact_value(value)
    return event_dict


def configure_logging(
    *, service: str, level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto",
    stream: object | None = None,
) -> None:
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and hasattr(out, "isatty") and out.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=use_console and fmt != "json")
        if use_console else structlog.processors.JSONRenderer(ensure_ascii=False)  # "🔴", not "\\ud83d\\udd34"
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # a traceback's text is redacted like the rest
            redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)  # type: ignore[arg-type]
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, lvl in _QUIET.items():
        logging.getLogger(name).setLevel(max(lvl, logging.getLevelName(level)))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
