"""pytest-flows: the pytest plugin (hooks, options, fixtures)."""
