"""A Prefect 2 flow script: submit, map, unmapped, wait_for, retries, a subflow, failures.

RUNNER is replaced by the test with one of the three task runners.
"""

import sys
from pathlib import Path

from prefect import flow, task, unmapped
from prefect.task_runners import ConcurrentTaskRunner, SequentialTaskRunner
from prefect_dask import DaskTaskRunner

RUNNERS = {
    "sequential": SequentialTaskRunner,
    "concurrent": ConcurrentTaskRunner,
    "dask": DaskTaskRunner,
}


@task
def extract(n):
    return list(range(n))


@task
def square(x):
    return x * x


@task
def add(x, y):
    return x + y


@task(retries=2, retry_delay_seconds=0.01)
def flaky(path):
    attempts = int(Path(path).read_text()) + 1
    Path(path).write_text(str(attempts))
    if attempts < 3:
        raise RuntimeError(f"attempt {attempts} failed")
    return f"ok after {attempts}"


@task
def total(values):
    return sum(values)


@task
def explode():
    raise ValueError("extraction failed")


@flow
def summarize(values):
    return total.submit(values)


def make_flows(runner):
    @flow(name="pipeline", task_runner=runner)
    def pipeline(n, path):
        numbers = extract.submit(n)
        squares = square.map(numbers)
        shifted = add.map(squares, unmapped(10))
        retried = flaky.submit(path, wait_for=shifted)
        summed = summarize(squares)
        return {
            "squares": [future.result() for future in squares],
            "shifted": [future.result() for future in shifted],
            "retried": retried.result(),
            "sum": summed,
        }

    @flow(name="failing", task_runner=runner)
    def failing():
        fine = square.submit(3)
        broken = explode.submit()
        add.submit(broken, 1)
        return fine, broken

    return pipeline, failing


if __name__ == "__main__":
    path = Path(sys.argv[2])
    path.write_text("0")
    pipeline, failing = make_flows(RUNNERS[sys.argv[1]]())
    print(pipeline(4, str(path)))
    state = failing(return_state=True)
    print(state.is_failed(), state.message)
    fine, broken = state.result(raise_on_failure=False)
    print(fine.is_completed(), fine.result(), broken.is_failed())
    try:
        failing()
    except ValueError as error:
        print("raised", repr(error))
