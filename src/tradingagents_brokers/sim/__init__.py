"""The built-in simulated broker (``sim``): offline, persisted in SQLite."""
