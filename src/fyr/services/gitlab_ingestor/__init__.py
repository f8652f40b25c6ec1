"""The gitlab_ingestor service."""
