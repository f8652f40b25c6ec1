"""The history pages: `fyr ui`, and /ui under `fyr all` and `fyr ingestor`."""
