"""Database layer: declarative base, engine/session factory, repositories (the only SQL writers)."""
