"""Handlers of the double. Each records what it was called with in its `CALLS` list."""
