"""The example suite: run it under any runner, e.g. `pytest examples --flow-runner=dask`."""
