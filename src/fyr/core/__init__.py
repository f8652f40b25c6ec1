"""Pure, shared decisions used by more than one service (no I/O here)."""
