"""A Prefect 3 pipeline: ThreadPoolTaskRunner, .map, .submit and .result()."""

from prefect import flow, task
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner


@task
def square(x):
    return x * x


@task
def total(values):
    return sum(values)


@flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def pipeline(n):
    squares = square.map(range(n))
    wait(squares)
    print(f"squares: {squares.result()}")
    return total.submit(squares).result()


if __name__ == "__main__":
    print(f"total: {pipeline(4)}")
