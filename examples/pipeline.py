"""A small extract-transform-load pipeline: the kind of flow the example tests check.

    python examples/pipeline.py
"""

import time

from flowcore import flow, task, unmapped


@task
def extract(source):
    time.sleep(0.2)
    return [f"{source}:{n}" for n in range(3)]


@task(retries=2, retry_delay_seconds=0.05)
def transform(records, suffix):
    time.sleep(0.2)
    return [f"{record}{suffix}" for record in records]


@task
def load(batches):
    return sorted(record for batch in batches for record in batch)


@flow
def etl(sources=("db", "api")):
    raw = extract.map(list(sources))
    clean = transform.map(raw, unmapped("!"))
    return load(clean)


if __name__ == "__main__":
    print(etl())
