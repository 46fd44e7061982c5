"""What calling a flow directly returns when it returned futures, states or None.

Prefect 2 hands back the runs' states; flowcore resolves futures to their results.
"""

from _observe import error, final_state, say, show
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def double(x):
    return 2 * x


@flow
def returns_future():
    return double.submit(21)


@flow
def returns_state():
    return final_state(double.submit(21))


@flow
def returns_list_of_futures():
    return [double.submit(1), double.submit(2)]


@flow
def returns_none_after_tasks():
    double.submit(1)
    double.submit(2)


@flow
def returns_mixed():
    return explode.submit(), double.submit(21), "bar"


@flow
def returns_dict_of_futures():
    return {"bad": explode.submit(), "ok": double.submit(1)}


@flow
def returns_nested_future():
    return [[double.submit(1)], 5]


CANDIDATES = {
    "a future": returns_future,
    "a state": returns_state,
    "a list of futures": returns_list_of_futures,
    "None after tasks": returns_none_after_tasks,
    "failed future, future, data": returns_mixed,
    "a dict of futures": returns_dict_of_futures,
    "a nested future": returns_nested_future,
}
for label, candidate in CANDIDATES.items():
    try:
        say(f"returned {label}, call gives:", show(candidate()))
    except Exception as exc:
        say(f"returned {label}, call raised", error(exc))
