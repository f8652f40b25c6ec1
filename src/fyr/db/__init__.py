"""Database layer: declarative base, engine/session factory, and one module per concept (queue, rollouts,
gitlab, analyses, messages, actions) — the only code that writes SQL."""
