"""The package has a __version__ string."""

import re

from _observe import say
from prefect import __version__

say("__version__ is a str:", isinstance(__version__, str))
say("looks like a version:", re.match(r"^\d+\.\d+", __version__) is not None)
