"""The `fyr` console script: one subcommand per service, plus tools.

Services: watcher, ingestor, analyzer, notifier, all. Tools: demo, analyze, collect, db upgrade,
rollouts list/show. Settings, engine and clients are built here, at start, and passed down.
Bad input ends with one line on stderr naming the problem and a non-zero exit (2 for config/usage).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
import typer

from fyr.errors import ConfigError, FyrError
from fyr.settings import Settings, load_settings

app = typer.Typer(
    name="fyr",
    help="Fyr turns a failed Kubernetes rollout into a precise, owner-addressed Slack message.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema tools.", no_args_is_help=True)
rollouts_app = typer.Typer(help="Rollout history: what failed, why, and what was sent.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(rollouts_app, name="rollouts")

HostOpt = Annotated[str, typer.Option("--host", help="Address for the HTTP endpoints (/healthz, /readyz, /metrics).")]
PortOpt = Annotated[int, typer.Option("--port", help="Port for the HTTP endpoints; 0 picks a free one.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"fyr: {message}", err=True)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise fail(str(exc)) from None


def run_async(main: Callable[[], Coroutine[Any, Any, int | None]]) -> None:
    """Run a coroutine; Fyr's own errors end as one line and a non-zero exit."""
    try:
        code = asyncio.run(main())
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except FyrError as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


def _service(name: str) -> Settings:
    from fyr.logging import configure_logging

    settings = settings_or_exit()
    configure_logging(service=name, level=settings.log_level, fmt=settings.log_format)
    return settings


def _service_command(command: str, service: str, log_name: str, help_text: str) -> None:
    """Register `fyr COMMAND`: one long-running service with its HTTP endpoints."""

    def run(host: HostOpt = "0.0.0.0", port: PortOpt = 8080) -> None:
        from fyr.app import run_services

        settings = _service(log_name)
        run_async(lambda: run_services(settings, {service}, host=host, port=port))

    run.__doc__ = help_text
    app.command(name=command)(run)


_service_command("watcher", "watcher", "watcher",
                 "Watch Deployments, ReplicaSets, Pods and Events; record every rollout generation and its status.")
_service_command("ingestor", "ingestor", "gitlab-ingestor",
                 "Receive GitLab webhooks (POST /webhooks/gitlab) and attach commit, pipeline and MR to rollouts.")
_service_command("analyzer", "analyzer", "analyzer",
                 "Claim failed rollouts, collect pods/events/logs, find the root cause (rules + LLM), store it.")
_service_command("notifier", "notifier", "notifier",
                 "Post each analysed failure to the owning team's Slack channel, exactly once "
                 "(console without a token).")


@app.command(name="all")
def all_services(
    host: HostOpt = "0.0.0.0",
    port: PortOpt = 8080,
    upgrade_db: Annotated[
        bool | None, typer.Option("--upgrade-db/--no-upgrade-db",
                                  help="Migrate first (default: yes on SQLite, no on MySQL).")
    ] = None,
) -> None:
    """Run all four services in one process sharing settings and database (the embedded default)."""
    from fyr.app import run_services

    settings = _service("all")
    run_async(lambda: run_services(settings, {"watcher", "ingestor", "analyzer", "notifier"},
                                   host=host, port=port, upgrade_db=upgrade_db))


@app.command()
def demo(
    keep: Annotated[Path | None, typer.Option(help="Keep the SQLite database here instead of a temporary folder.")]
    = None,
) -> None:
    """Play failing rollouts on a simulated cluster through all services and show the Slack messages."""
    from fyr.demo import run_demo

    settings = settings_or_exit()
    run_async(lambda: run_demo(settings, keep=keep))


@app.command()
def analyze(
    bundle: Annotated[Path, typer.Option("--bundle", help="A RolloutBundle JSON file (see `fyr collect`).")],
    fmt: Annotated[str, typer.Option("--format", help="json (the contract) or text (for a person).")] = "json",
    llm: Annotated[str | None, typer.Option("--llm", help="openai or none (default: FYR_LLM).")] = None,
) -> None:
    """Analyse a collected rollout bundle offline and print the result (no database needed)."""
    from fyr.offline import analyze_command

    if fmt not in ("json", "text"):
        raise fail(f"--format must be json or text, not {fmt!r}")
    if llm not in (None, "openai", "none"):
        raise fail(f"--llm must be openai or none, not {llm!r}")
    settings = settings_or_exit()
    out_fmt: Literal["json", "text"] = "json" if fmt == "json" else "text"
    try:
        code, out, err = asyncio.run(analyze_command(bundle, fmt=out_fmt, llm=llm, settings=settings))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if out:
        typer.echo(out)
    if err:
        typer.echo(f"fyr: {err}", err=True)
    raise typer.Exit(code)


@app.command()
def collect(
    target: Annotated[str, typer.Argument(help="NAMESPACE/DEPLOYMENT")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the bundle here (default: stdout).")]
    = None,
    raw: Annotated[bool, typer.Option("--raw", help="Write it unredacted (secrets included; a warning is printed).")]
    = False,
) -> None:
    """Collect a rollout bundle (Deployment, ReplicaSets, Pods, Events, logs) from a live cluster, redacted."""
    from fyr.offline import collect_command

    if target.count("/") != 1 or not all(target.split("/")):
        raise fail(f"target must be NAMESPACE/DEPLOYMENT, not {target!r}")
    settings = settings_or_exit()
    run_async(lambda: collect_command(target, output=output, settings=settings, raw=raw))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the database migrations (MySQL/MariaDB or SQLite)."""
    from sqlalchemy.exc import SQLAlchemyError

    from fyr.db.migrate import upgrade
    from fyr.logging import configure_logging

    settings = settings_or_exit()
    configure_logging(service="db", level=settings.log_level, fmt=settings.log_format)
    try:
        upgrade(settings.database_url, revision)
    except SQLAlchemyError as exc:
        raise fail(f"migration failed: {str(getattr(exc, 'orig', exc)).splitlines()[0]}", 1) from None
    structlog.get_logger().info("db_upgraded", revision=revision)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision (base = empty).")]) -> None:
    """Revert the database migrations down to REVISION."""
    from fyr.db.migrate import downgrade

    settings = settings_or_exit()
    downgrade(settings.database_url, revision)


@rollouts_app.command("list")
def rollouts_list(
    status: Annotated[str | None, typer.Option(help="PENDING, ROLLING_OUT, SUCCESS, FAILED, SUPERSEDED")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's rollouts.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO date/time or a duration like 2h, 3d.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List recorded rollouts, newest first."""
    from fyr.history import list_command

    settings = settings_or_exit()
    run_async(lambda: list_command(settings, status=status, team=team, since=since, limit=limit, fmt=fmt))


@rollouts_app.command("show")
def rollouts_show(
    rollout_id: Annotated[int, typer.Argument(help="Rollout id (see `fyr rollouts list`).")],
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Show one rollout: GitLab links, the analysis, the exact reduced context the model saw, tokens, cost."""
    from fyr.history import show_command

    settings = settings_or_exit()
    run_async(lambda: show_command(settings, rollout_id, fmt=fmt))


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        sys.stderr.close()


if __name__ == "__main__":
    main()
