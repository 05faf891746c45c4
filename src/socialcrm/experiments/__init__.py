"""Experiment runners: each answers one question in experiments/<name>/ with one command."""
