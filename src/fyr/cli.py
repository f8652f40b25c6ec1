"""The `fyr` console script: one subcommand per service, plus tools.

Services: watcher, ingestor, analyzer, notifier, all. Tools: demo, analyze, collect, db upgrade,
rollouts list/show. Settings, engine and clients are built here, at start, and passed down.
Bad input ends with one line on stderr naming the problem and a non-zero exit (2 for config/usage).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
import typer

from fyr import __version__
from fyr.errors import ConfigError, FyrError
from fyr.settings import Settings, load_settings

app = typer.Typer(
    name="fyr",
    help="Fyr turns a failed Kubernetes rollout into a precise, owner-addressed Slack message.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema tools.", no_args_is_help=True)
rollouts_app = typer.Typer(help="Rollout history: what failed, why, and what was sent.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(rollouts_app, name="rollouts")

HostOpt = Annotated[str, typer.Option("--host", help="Address for the HTTP endpoints (/healthz, /readyz, /metrics).")]
PortOpt = Annotated[int, typer.Option("--port", help="Port for the HTTP endpoints; 0 picks a free one.")]
KubeconfigOpt = Annotated[Path | None, typer.Option(
    "--kubeconfig", help="Kubeconfig file (default: KUBECONFIG, in-cluster, then ~/.kube/config).")]
ContextOpt = Annotated[str | None, typer.Option(
    "--context", help="Kubeconfig context to use (default: the file's current-context; FYR_KUBE_CONTEXT).")]


class AnalyzeFormat(StrEnum):
    json = "json"
    text = "text"


class LlmChoice(StrEnum):
    openai = "openai"
    none = "none"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


class ShowFormat(StrEnum):
    text = "text"
    json = "json"


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"fyr: {message}", err=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fyr {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Fyr turns a failed Kubernetes rollout into a precise, owner-addressed Slack message."""
    from fyr.logging import configure_logging

    # Every command logs to stderr from its first line on; services reconfigure with their name.
    level = os.environ.get("LOG_LEVEL", "WARNING").strip().upper()
    configure_logging(service="fyr", level=level if level in ("DEBUG", "INFO", "WARNING", "ERROR",
                                                               "CRITICAL") else "WARNING")


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
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
    if code:
        raise typer.Exit(code)


def _service(name: str, **overrides: object) -> Settings:
    from fyr.logging import configure_logging

    settings = settings_or_exit(**overrides)
    configure_logging(service=name, level=settings.log_level, fmt=settings.log_format)
    return settings


def _service_command(command: str, service: str, log_name: str, help_text: str) -> None:
    """Register `fyr COMMAND`: one long-running service with its HTTP endpoints."""

    def run(host: HostOpt = "0.0.0.0", port: PortOpt = 8080, kubeconfig: KubeconfigOpt = None,
            context: ContextOpt = None) -> None:
        from fyr.app import run_services

        settings = _service(log_name, kubeconfig=kubeconfig, kube_context=context)
        run_async(lambda: run_services(settings, {service}, host=host, port=port))

    run.__doc__ = help_text
    app.command(name=command)(run)


_service_command("watcher", "watcher", "watcher",
                 "Watch Deployments, StatefulSets and DaemonSets (their ReplicaSets, ControllerRevisions, Pods and "
                 "Events); record every rollout generation and its status.")
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
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Run all four services in one process sharing settings and database (the embedded default)."""
    from fyr.app import run_services

    settings = _service("all", kubeconfig=kubeconfig, kube_context=context)
    run_async(lambda: run_services(settings, {"watcher", "ingestor", "analyzer", "notifier"},
                                   host=host, port=port, upgrade_db=upgrade_db))


@app.command(name="ui")
def ui(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (default: this machine only).")]
    = "127.0.0.1",
    port: PortOpt = 8080,
) -> None:
    """Serve the history pages at /ui: every rollout, its analysis and exactly what the model saw.

    Read-only. Set FYR_UI_TOKEN to require a token (Authorization: Bearer, or the login form);
    put it behind your company's SSO proxy when it is reachable by more than your team.
    """
    from fyr.app import run_services

    settings = _service("ui")
    run_async(lambda: run_services(settings, {"ui"}, host=host, port=port))


@app.command()
def demo(
    keep: Annotated[Path | None, typer.Option(
        help="Keep the demo's SQLite database: PATH ending in .db/.sqlite/.sqlite3 is the file itself, "
             "any other PATH a folder that gets fyr.db. An earlier demo database there is replaced.")] = None,
    preview: Annotated[Path | None, typer.Option(
        help="Also write each Slack message as an HTML page with Slack's look into this folder.")] = None,
) -> None:
    """Play failing rollouts on a simulated cluster through all services and show the Slack messages."""
    from fyr.demo import run_demo

    settings = settings_or_exit()
    run_async(lambda: run_demo(settings, keep=keep, preview=preview))


@app.command()
def simcluster(
    scenario: Annotated[str, typer.Option(help="What the cluster holds at start: demo or empty.")] = "demo",
    controller: Annotated[bool, typer.Option("--controller/--no-controller",
                                             help="Roll out created or changed Deployments (default), or store "
                                                  "objects exactly as given.")] = True,
    kubeconfig: Annotated[Path, typer.Option(help="Where to write the kubeconfig once the server is ready.")]
    = Path("simcluster.kubeconfig"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 0,
) -> None:
    """Serve the simulated cluster on loopback for kubectl and Fyr until Ctrl-C (docs/simcluster.md)."""
    from fyr.demo.playground import SCENARIOS, remove_stale_kubeconfig, serve_simcluster
    from fyr.logging import configure_logging

    if scenario not in SCENARIOS:
        raise fail(f"simcluster: unknown scenario {scenario!r} (choose from {', '.join(SCENARIOS)})")
    if not 0 <= port <= 65535:
        raise fail(f"simcluster: port {port} is out of range")
    configure_logging(service="simcluster", level="INFO", fmt="auto")
    remove_stale_kubeconfig(kubeconfig)
    run_async(lambda: serve_simcluster(scenario=scenario, controller=controller, kubeconfig=kubeconfig,
                                       port=port))


@app.command()
def analyze(
    bundle: Annotated[Path, typer.Option("--bundle", help="A RolloutBundle JSON file (see `fyr collect`).")],
    fmt: Annotated[AnalyzeFormat, typer.Option("--format", help="json (the contract) or text (for a person).")]
    = AnalyzeFormat.json,
    llm: Annotated[LlmChoice | None, typer.Option("--llm", help="Default: FYR_LLM.")] = None,
) -> None:
    """Analyse a collected rollout bundle offline and print the result (no database needed)."""
    from fyr.offline import analyze_command

    settings = settings_or_exit()
    out_fmt: Literal["json", "text"] = "json" if fmt is AnalyzeFormat.json else "text"
    try:
        code, out, err = asyncio.run(analyze_command(bundle, fmt=out_fmt, llm=llm.value if llm else None,
                                                     settings=settings))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if out:
        typer.echo(out)
    if err:
        typer.echo(f"fyr: {err}", err=True)
    raise typer.Exit(code)


@app.command(name="eval")
def eval_(
    directory: Annotated[Path, typer.Argument(help="Bundles (*.json) with expected.yaml.")] = Path("tests/corpus"),
    llm: Annotated[str | None, typer.Option("--llm", help="openai or none (default: FYR_LLM).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Score the analyzer on bundles with expected answers: category, evidence, leaks, tokens, cost."""
    from fyr.eval import eval_command

    if fmt not in ("json", "text") or llm not in (None, "openai", "none"):
        raise fail("--format must be json or text and --llm openai or none")
    settings = settings_or_exit()
    run_async(lambda: _print_eval(eval_command(directory, llm=llm, fmt="json" if fmt == "json" else "text",
                                               settings=settings)))


async def _print_eval(job: Coroutine[Any, Any, tuple[int, str]]) -> int:
    code, out = await job
    typer.echo(out)
    return code


@app.command()
def collect(
    target: Annotated[str, typer.Argument(help="NAMESPACE/NAME (a Deployment) or NAMESPACE/KIND/NAME "
                                                "(KIND: deployment, statefulset, daemonset)")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the bundle here (default: stdout).")]
    = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    raw: Annotated[bool, typer.Option("--raw", help="Write it unredacted (secrets included; a warning is printed).")]
    = False,
) -> None:
    """Collect a rollout bundle (the workload, its ReplicaSets or ControllerRevisions, Pods, Events, logs), redacted."""
    from fyr.offline import collect_command
    from fyr.services.analyzer.offline import parse_target

    try:
        parse_target(target)
    except ValueError as exc:
        raise fail(str(exc)) from None
    settings = settings_or_exit(kubeconfig=kubeconfig, kube_context=context)
    run_async(lambda: collect_command(target, output=output, settings=settings, raw=raw))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the database migrations (MySQL/MariaDB or SQLite)."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from fyr.db.diagnose import classify, shown
    from fyr.db.engine import normalize_url
    from fyr.db.migrate import upgrade
    from fyr.logging import configure_logging

    settings = settings_or_exit()
    configure_logging(service="db", level=settings.log_level, fmt=settings.log_format)
    try:
        upgrade(settings.database_url, revision)
    except CommandError as exc:  # an unknown revision
        raise fail(f"migration failed: {exc}; `fyr db upgrade` with no argument goes to the newest") from None
    except SQLAlchemyError as exc:
        error = classify(exc, normalize_url(settings.database_url))
        raise fail(f"migration failed: {error}", 2 if isinstance(error, ConfigError) else 1) from None
    structlog.get_logger().info("db_upgraded", revision=revision, database=shown(normalize_url(settings.database_url)))


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision (base = empty).")]) -> None:
    """Revert the database migrations down to REVISION."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from fyr.db.diagnose import classify
    from fyr.db.engine import normalize_url
    from fyr.db.migrate import downgrade

    settings = settings_or_exit()
    try:
        downgrade(settings.database_url, revision)
    except CommandError as exc:
        raise fail(f"downgrade failed: {exc}") from None
    except SQLAlchemyError as exc:
        error = classify(exc, normalize_url(settings.database_url))
        raise fail(f"downgrade failed: {error}", 2 if isinstance(error, ConfigError) else 1) from None


@rollouts_app.command("list")
def rollouts_list(
    status: Annotated[str | None, typer.Option(help="PENDING, ROLLING_OUT, SUCCESS, FAILED, SUPERSEDED")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's rollouts.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO date/time or a duration like 2h, 3d.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    fmt: Annotated[ListFormat, typer.Option("--format")] = ListFormat.table,
) -> None:
    """List recorded rollouts, newest first."""
    from fyr.history import list_command

    settings = settings_or_exit()
    run_async(lambda: list_command(settings, status=status, team=team, since=since, limit=limit, fmt=fmt.value))


@rollouts_app.command("show")
def rollouts_show(
    rollout_id: Annotated[int, typer.Argument(help="Rollout id (see `fyr rollouts list`).")],
    fmt: Annotated[ShowFormat, typer.Option("--format")] = ShowFormat.text,
) -> None:
    """Show one rollout: GitLab links, the analysis, the exact reduced context the model saw, tokens, cost."""
    from fyr.history import show_command

    settings = settings_or_exit()
    run_async(lambda: show_command(settings, rollout_id, fmt=fmt.value))


def main() -> None:
    """Run the CLI with one rule for every command: user error → one line, exit 2; a dependency that
    cannot be reached → one line, exit 1; Ctrl-C → "interrupted", exit 130; a traceback only with
    LOG_LEVEL=DEBUG."""
    # Typer vendors Click; its usage errors are only importable from there.
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    from fyr.exits import interrupted

    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # a bad option or argument
        command = exc.ctx.command_path if isinstance(exc, UsageError) and exc.ctx else "fyr"
        typer.echo(f"fyr: {exc.format_message()} (see `{command} --help`)", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        interrupted()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:  # the CLI's last resort: one clean line instead of a traceback
        if os.environ.get("LOG_LEVEL", "").strip().upper() == "DEBUG":
            raise
        first = (str(exc).splitlines() or [""])[0][:300]
        typer.echo(f"fyr: unexpected error: {type(exc).__name__}: {first} (LOG_LEVEL=DEBUG shows where)", err=True)
        sys.exit(1)
    if code == 130:
        interrupted()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
