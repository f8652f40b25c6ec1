"""The rollout state machine (docs/architecture.md 'Rollout state machine'): its statuses, its legal
moves, and the one decision both the watcher and the database make with them. No I/O.

The watcher asks `next_status` which move a new verdict makes; the database's `transition` calls
`require_transition` before it writes one, so a move this module does not allow is never stored.
"""

from __future__ import annotations

from fyr.errors import IllegalTransition
from fyr.models.rollout import RolloutStatus

S = RolloutStatus

# Legal moves. FAILED → SUCCESS is a recovery; SUCCESS, SUPERSEDED and DELETED are final; FAILED is
# not superseded (it finished, as a failure).
ALLOWED: dict[RolloutStatus, frozenset[RolloutStatus]] = {
    S.PENDING: frozenset({S.ROLLING_OUT, S.SUCCESS, S.FAILED, S.SUPERSEDED, S.DELETED}),
    S.ROLLING_OUT: frozenset({S.SUCCESS, S.FAILED, S.SUPERSEDED, S.DELETED}),
    S.FAILED: frozenset({S.SUCCESS}),
    S.SUCCESS: frozenset(),
    S.SUPERSEDED: frozenset(),
    S.DELETED: frozenset(),
}
OPEN = (S.PENDING, S.ROLLING_OUT)  # not finished: a newer generation supersedes these, a deletion closes them
FINAL = frozenset(status for status, moves in ALLOWED.items() if not moves)


def can_transition(old: RolloutStatus, new: RolloutStatus) -> bool:
    return new in ALLOWED[old]


def next_status(current: RolloutStatus, verdict: RolloutStatus) -> RolloutStatus | None:
    """The status a rollout in `current` moves to when the verdict is `verdict`; None when it stays
    (already there, or the move is not allowed: a SUCCESS whose pod dies later stays a SUCCESS)."""
    return verdict if verdict != current and can_transition(current, verdict) else None


def require_transition(old: RolloutStatus, new: RolloutStatus, *, what: str) -> None:
    """Raise IllegalTransition unless `old → new` is a legal move (`what` names the rollout)."""
    if not can_transition(old, new):
        raise IllegalTransition(f"{what}: {old} -> {new} is not allowed")
