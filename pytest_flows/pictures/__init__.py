"""Pictures of a timeline: a text Gantt chart, Chrome trace JSON, a self-contained HTML page.

| picture                                   | module         |
|-------------------------------------------|----------------|
| `render_gantt`: text, for terminals       | `gantt`        |
| `to_chrome_trace`: opens in Perfetto      | `chrome_trace` |
| `to_html`: SVG in one page, no scripts    | `html`         |
| `PictureContext`: the test, its failure   | `context`      |
"""

from pytest_flows.pictures.chrome_trace import save_chrome_trace, to_chrome_trace
from pytest_flows.pictures.context import PictureContext
from pytest_flows.pictures.gantt import render_gantt
from pytest_flows.pictures.html import save_html, to_html

__all__ = [
    "PictureContext",
    "render_gantt",
    "save_chrome_trace",
    "save_html",
    "to_chrome_trace",
    "to_html",
]
