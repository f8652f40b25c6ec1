"""Analyzer unit tests."""
