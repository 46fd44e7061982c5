import time

from flowcore import flow, task
from flowcore.task_runners import DaskTaskRunner


@task
def print_values(values):
    for value in values:
        time.sleep(0.5)
        print(value, end="\r")

@flow(task_runner=DaskTaskRunner())
def parallel_flow():
    print_values(["AAAA"] * 15)
    print_values(["BBBB"] * 10)

if __name__ == "__main__":
    parallel_flow()
    print()  # the values end in "\r": end the line they share before the prompt
