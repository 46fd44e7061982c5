"""A Prefect 2 script: plain task calls run in place, in order, and give values."""

import sys

from prefect import flow, task
from prefect.task_runners import SequentialTaskRunner


@task
def step(name, value):
    print(f"step {name}: {value}", flush=True)
    return value + 1


@flow(task_runner=SequentialTaskRunner())
def steps(start):
    value = step("one", start)
    value = step("two", value)
    return step("three", value)


if __name__ == "__main__":
    print(f"argv: {sys.argv[1:]}")
    print(f"result: {steps(int(sys.argv[1]))}")
