"""Fyr: a failed Kubernetes rollout, explained to its owners in Slack within seconds."""

__version__ = "0.1.0"
