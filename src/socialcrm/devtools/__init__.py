"""Developer tools (pre-commit hooks)."""
