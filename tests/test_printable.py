"""Names and messages from user code reach the terminal escaped, never raw."""

from __future__ import annotations

import unicodedata

import pytest
from event_builders import TimelineBuilder

from pytest_flows.pictures.html import to_html
from pytest_flows.printable import NAME_LIMIT, printable, printable_name

HOSTILE = "\x1b[31mred\x1b[0m\r\n\t\x00\x7f\x9b\u202eevil"


def raw_controls(text: str) -> list[str]:
    """The characters of ``text`` a terminal would act on, line breaks aside."""
    return [
        repr(character)
        for character in text
        if character != "\n" and (unicodedata.category(character) in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\rb\nc\td", "a\\rb\\nc\\td"),
        ("\x00\x07\x7f", "\\x00\\x07\\x7f"),
        ("\x9b2J", "\\x9b2J"),  # a C1 control: the one-byte CSI
        ("abc\u202efed", "abc\\u202efed"),  # a bidi override
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("line\u2028sep", "line\\u2028sep"),
        ("\ud800", "\\ud800"),  # a lone surrogate no terminal can encode
    ],
)
def test_printable_escapes_control_characters_as_python_writes_them(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_keeps_ordinary_unicode_and_spaces() -> None:
    text = "évaluer ✓ 数据 naïve  a b 👍"
    assert printable(text) == text


def test_printable_shortens_a_long_text_in_the_middle() -> None:
    text = "start-" + "x" * 1000 + "-end"
    shown = printable(text, limit=20)
    assert len(shown) == 20
    assert shown.startswith("start-")
    assert shown.endswith("-end")
    assert ".." in shown
    assert len(printable_name(text)) == NAME_LIMIT


def test_printable_refuses_a_limit_too_small_to_shorten_to() -> None:
    with pytest.raises(ValueError, match="limit >= 4 characters, got 3"):
        printable("long enough", limit=3)


def test_html_picture_escapes_markup_and_controls_in_names() -> None:
    name = f"<script>alert(1)</script>{HOSTILE}-0"
    timeline = (
        TimelineBuilder()
        .flow("flow-0", running=(0, 10), thread=f"pool-{HOSTILE}")
        .task(name, running=(1, 5), final="FAILED", message=f'<b onclick="x">{HOSTILE}')
        .build()
    )
    page = to_html(timeline)
    assert "<script>" not in page
    assert "<b onclick" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\x1b[31mred" in page
    assert raw_controls(page.replace(HOSTILE, "")) == []  # data attributes keep the name exactly


# --- through pytest --------------------------------------------------------------

HOSTILE_SUITE = f"""
import threading

from flowcore import flow, task
from flowcore.task_runners import ConcurrentTaskRunner

HOSTILE = {HOSTILE!r}


@task(name="load" + HOSTILE)
def load(x):
    return x


@task(name="boom" + HOSTILE)
def boom(x):
    raise ValueError("bad value" + HOSTILE)


@task(name="long" + "x" * 5000 + HOSTILE)
def long_name(x):
    return x


@flow(name="flow" + HOSTILE, task_runner=ConcurrentTaskRunner())
def hostile(argument):
    load(argument)
    long_name(argument)
    boom.submit(argument).wait()
    return "done"


def run_in_thread(target):
    thread = threading.Thread(target=target, name="thread" + HOSTILE)
    thread.start()
    thread.join()


def test_parallel(flow_timeline):
    run_in_thread(lambda: hostile(HOSTILE, return_state=True))
    flow_timeline.assert_parallel("load" + HOSTILE + "-0", "long" + "x" * 5000 + HOSTILE + "-0")


def test_states(flow_timeline):
    run_in_thread(lambda: hostile(HOSTILE, return_state=True))
    flow_timeline.assert_states("boom" + HOSTILE + "-0", ["PENDING", "RUNNING", "COMPLETED"])


def test_all_completed(flow_timeline):
    run_in_thread(lambda: hostile(HOSTILE, return_state=True))
    flow_timeline.assert_all_completed()


def test_missing(flow_timeline):
    run_in_thread(lambda: hostile(HOSTILE, return_state=True))
    flow_timeline.run("nothing" + HOSTILE)
"""


def test_terminal_output_of_failing_flow_tests_holds_no_raw_control_character(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_hostile=HOSTILE_SUITE)
    result = pytester.runpytest("-p", "no:randomly", "-rA", "--flow-seed=7")
    result.assert_outcomes(failed=4)
    output = result.stdout.str() + result.stderr.str()
    assert raw_controls(output) == []
    result.stdout.fnmatch_lines(
        [
            "*expected load\\x1b[[]31mred\\x1b[[]0m\\r\\n\\t\\x00\\x7f\\x9b\\u202eevil-0*",
            "*bad value\\x1b[[]31mred*",
            "*no run matches*nothing\\x1b[[]31mred*",
        ]
    )
    # The thread the flow ran in, in full in the chart's legend of lanes.
    assert "lanes: T1 thread\\x1b[31mred\\x1b[0m\\r\\n\\t\\x00\\x7f\\x9b\\u202eevil" in output
    assert max(len(line) for line in output.splitlines()) < 1000  # long names shortened
