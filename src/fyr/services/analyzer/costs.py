"""Estimated LLM cost of one analysis, from the price table in settings (USD per 1M tokens).

Providers answer with a dated model name (`gpt-4o-mini-2024-07-18`) while prices are published for
the alias (`gpt-4o-mini`): the longest table key that prefixes the answered name wins. A model not
in the table costs 0.0 (a local vLLM/Ollama server) and is logged once so a gap is visible.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from fyr.settings import ModelPrice

log = structlog.get_logger()
_warned: set[str] = set()


def price_for(model_name: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    if model_name in prices:
        return prices[model_name]
    matches = [key for key in prices if model_name.startswith(key)]
    if not matches:
        return None
    return prices[max(matches, key=len)]


def estimate_cost(
    model_name: str, tokens_in: int, tokens_out: int, prices: Mapping[str, ModelPrice]
) -> float:
    """USD for one call; 0.0 when the model has no price."""
    price = price_for(model_name, prices)
    if price is None:
        if model_name not in _warned and model_name != "rules":
            _warned.add(model_name)
            log.info("llm_price_unknown", model_name=model_name)
        return 0.0
    return (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1_000_000
