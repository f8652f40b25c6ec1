"""`fyr analyze` and `fyr collect`: the analyzer pipeline without a database.

`analyze` runs collect-free: bundle → reduce → redact → rules → (optional) LLM chain, and prints the
§7 JSON (or text). `collect` writes the bundle a live cluster gives, with a progress line on a TTY.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from fyr.errors import ConfigError
from fyr.services.analyzer.offline import run_analyze, run_collect
from fyr.settings import Settings


async def analyze_command(bundle: Path, *, fmt: Literal["json", "text"], llm: str | None,
                          settings: Settings) -> tuple[int, str, str]:
    """(exit code, stdout, stderr line)."""
    if llm is not None:
        settings = settings.model_copy(update={"llm": llm})
    if llm == "openai" and not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError("--llm openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
    explain = None
    if settings.llm_enabled:
        # LangChain and the OpenAI client take seconds to import: only when the LLM is on.
        from fyr.services.analyzer.chains import make_offline_explainer

        explain = make_offline_explainer(settings)
    code, text = await run_analyze(bundle, fmt=fmt, settings=settings, explain=explain)
    return (code, text, "") if code == 0 else (code, "", text)


async def collect_command(target: str, *, output: Path | None, settings: Settings, raw: bool = False) -> int:
    return await run_collect(target, out=output, settings=settings, progress=sys.stderr.isatty(), raw=raw)
