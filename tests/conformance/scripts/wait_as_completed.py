"""prefect.futures.wait and as_completed (a Prefect 3 API): what they give back."""
# compare-with: prefect-3

import time

from _observe import say
from prefect import flow, task
from prefect.futures import as_completed, wait


@task
def nap(seconds):
    time.sleep(seconds)
    return seconds


@flow
def pipeline():
    futures = [nap.submit(s) for s in (2.0, 0.0, 1.0)]
    order = [future.result() for future in as_completed(futures)]
    say("as_completed order:", order)
    done, not_done = wait(futures)
    say("wait:", type(done).__name__, len(done), "done,", len(not_done), "not done")
    quick = [nap.submit(0.0), nap.submit(4.0)]
    done, not_done = wait(quick, timeout=1.5)
    say("wait with timeout:", len(done), "done,", len(not_done), "not done")
    return sorted(future.result() for future in futures)


say("flow result:", pipeline())
