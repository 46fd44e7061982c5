"""Differential conformance suite: flow scripts whose output is recorded from real Prefect.

| piece                         | what it is                                              |
|-------------------------------|---------------------------------------------------------|
| `scripts/*.py`                | one small Prefect flow script per semantic rule         |
| `scripts/_observe.py`         | the printing helpers they share (no Prefect imports)    |
| `golden/prefect-2/*.json`     | stdout and exit code of each script under Prefect 2.20  |
| `golden/prefect-3/*.json`     | the same under Prefect 3                                |
| `recorder.py`, `__main__.py`  | `python -m tests.conformance record --python PY`        |
| `tests/test_conformance.py`   | runs every script on flowcore, compares with the golden |

See README.md beside this file.
"""
