"""Price lookup for dated model names, and the retry delay rule (Retry-After first, else backoff)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fyr.services.analyzer.chains import llm_backoff
from fyr.services.analyzer.costs import estimate_cost, price_for
from fyr.settings import ModelPrice, Settings


def test_dated_model_name_is_priced_by_its_longest_published_prefix() -> None:
    prices = Settings().llm_prices
    assert price_for("gpt-4o-mini-2024-07-18", prices) == prices["gpt-4o-mini"]
    assert price_for("gpt-4o-2024-08-06", prices) == prices["gpt-4o"]
    # 1M in at 0.15 + 1M out at 0.60
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000, prices) == pytest.approx(0.75)


def test_unpriced_model_costs_nothing() -> None:
    assert estimate_cost("llama3.1:8b", 5000, 500, {"gpt-4o": ModelPrice(input_per_mtok=1, output_per_mtok=1)}) == 0


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    assert llm_backoff(2, 300).delay(1, retry_after=7.0) == 7.0
    assert llm_backoff(2, 300).delay(1, retry_after=3600.0) == 300


def test_backoff_doubles_per_attempt_with_bounded_jitter() -> None:
    def rule(rand: float) -> Callable[[int], float]:
        backoff = llm_backoff(2, 300)
        backoff.rand = lambda: rand
        return backoff.delay

    assert rule(0.0)(1) == 2
    assert rule(0.0)(3) == 8
    assert rule(1.0)(3) == 10
    assert rule(0.0)(20) == 300
    assert rule(1.0)(20) == 300  # the jitter never lifts a delay above the cap
