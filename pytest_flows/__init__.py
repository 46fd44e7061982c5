"""pytest_flows: rerun flow tests under any task runner, record timelines, assert on them."""
