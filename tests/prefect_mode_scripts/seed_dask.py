"""The seed's Dask example, written against prefect and prefect_dask.

With Prefect's call semantics (2.0 and later) the two plain calls run one
after the other, so the values print in order.
"""

import time

from prefect import flow, task
from prefect_dask import DaskTaskRunner


@task
def print_values(values):
    for value in values:
        time.sleep(0.01)
        print(value, flush=True)


@flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": False}))
def dask_flow():
    print_values(["AAAA"] * 3)
    print_values(["BBBB"] * 2)


if __name__ == "__main__":
    dask_flow()
