"""The rollout state machine: one decision for the watcher, enforced by the database."""

from __future__ import annotations

import pytest

from fyr.core.rollout_state import ALLOWED, FINAL, OPEN, can_transition, next_status, require_transition
from fyr.errors import IllegalTransition
from fyr.models.rollout import RolloutStatus as S


def test_every_status_has_its_moves_and_the_final_ones_have_none() -> None:
    assert set(ALLOWED) == set(S)
    assert {S.SUCCESS, S.SUPERSEDED, S.DELETED} == FINAL
    assert all(can_transition(status, S.SUPERSEDED) for status in OPEN)


@pytest.mark.parametrize(("current", "verdict", "move"), [
    (S.PENDING, S.ROLLING_OUT, S.ROLLING_OUT),
    (S.ROLLING_OUT, S.FAILED, S.FAILED),
    (S.FAILED, S.SUCCESS, S.SUCCESS),  # a recovery
    (S.ROLLING_OUT, S.ROLLING_OUT, None),  # already there
    (S.SUCCESS, S.ROLLING_OUT, None),  # a pod dying after the rollout finished
    (S.FAILED, S.ROLLING_OUT, None),
    (S.DELETED, S.FAILED, None),
])
def test_next_status_is_the_move_a_verdict_makes(current: S, verdict: S, move: S | None) -> None:
    assert next_status(current, verdict) == move


def test_require_transition_refuses_what_next_status_would_not_make() -> None:
    require_transition(S.FAILED, S.SUCCESS, what="rollout 1")
    with pytest.raises(IllegalTransition, match="rollout 7: SUCCESS -> FAILED"):
        require_transition(S.SUCCESS, S.FAILED, what="rollout 7")
