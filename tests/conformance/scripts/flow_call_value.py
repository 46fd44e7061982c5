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


for candidate in (
    returns_future,
    returns_state,
    returns_list_of_futures,
    returns_none_after_tasks,
    returns_mixed,
    returns_dict_of_futures,
    returns_nested_future,
):
    try:
        say(f"{candidate.name}:", show(candidate()))
    except Exception as exc:
        say(f"{candidate.name} raised", error(exc))
