"""Every container's args are a command line the real `fyr` CLI accepts (parsed, not run)."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from fyr.cli import app
from tests.deploy.conftest import rendered_docs


def parse(args: list[str]) -> list[str]:
    """Parse like `fyr ARGS` would, down to the leaf command, without running it; return its path.

    The leaf's make_context parses every option and raises a UsageError on an unknown or malformed one.
    """
    command: Any = typer.main.get_command(app)
    ctx = command.context_class(command, info_name="fyr")
    rest = list(args)
    path = []
    while hasattr(command, "get_command"):  # a group: the next word names the subcommand
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r} under {path}"
        path.append(name)
        command = sub
        ctx = (
            command.make_context(name, rest, parent=ctx)
            if not hasattr(command, "get_command")
            else (command.context_class(command, info_name=name, parent=ctx))
        )
    assert not ctx.args, ctx.args  # nothing left over
    return path


def container_args(docs: list[dict[str, Any]]) -> list[list[str]]:
    found = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            found.extend(c["args"] for c in doc["spec"]["template"]["spec"]["containers"])
    return found


@pytest.mark.parametrize("source", ["deploy", "chart-default"])
def test_container_args_are_accepted_by_the_fyr_cli(
    source: str, deploy_docs: list[dict[str, Any]], chart_default: dict[str, str]
) -> None:
    docs = deploy_docs if source == "deploy" else rendered_docs(chart_default)
    paths = sorted(" ".join(parse(args)) for args in container_args(docs))
    assert paths == ["analyzer", "db upgrade", "ingestor", "notifier", "watcher"]


def test_a_misspelt_option_is_refused() -> None:
    with pytest.raises(Exception, match="No such option"):  # typer's vendored click UsageError
        parse(["watcher", "--hots", "0.0.0.0"])
    with pytest.raises(Exception, match="valid integer"):
        parse(["watcher", "--port", "http"])
