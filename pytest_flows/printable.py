"""Text safe for a terminal: control characters shown escaped, never sent raw.

Names of tasks, flows, runs and threads, parameter reprs and error messages
come from user code; printed raw, an ANSI escape (``"\\x1b[31m"``) recolours
the terminal, ``"\\r"`` overwrites the line before it and a bidi override
(U+202E) reverses what follows. Everything the plugin prints goes through
`printable` first:

    >>> print(printable("load\\x1b[31m-0\\r\\n"))
    load\\x1b[31m-0\\r\\n
    >>> print(printable("évaluer ✓"))  # ordinary Unicode is kept
    évaluer ✓
    >>> print(printable("x" * 300, limit=20))
    xxxxxxxxx..xxxxxxxxx

Escaped: C0 and C1 controls and DEL (``\\n``, ``\\t``, ``\\x1b``, ``\\x9b``),
the bidirectional formatting characters, lone surrogates, and the line and
paragraph separators; each as Python writes it in a string literal.
"""

from __future__ import annotations

import unicodedata

__all__ = ["NAME_LIMIT", "printable", "printable_name"]

NAME_LIMIT = 120
"""The most characters of a name a message shows (the middle gives way)."""

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object, limit: int | None = None) -> str:
    """``str(text)`` with every control character escaped; at most ``limit`` characters.

    A longer text keeps its start and its end around ``..``, where names
    differ least.
    """
    escaped = "".join(_escape(character) for character in str(text))
    if limit is None or len(escaped) <= limit:
        return escaped
    if limit < 4:
        raise ValueError(f"printable() needs limit >= 4 characters, got {limit}")
    tail = (limit - 2) // 2
    return escaped[: limit - 2 - tail] + ".." + escaped[len(escaped) - tail :]


def printable_name(name: object) -> str:
    """A name for a message: `printable`, and at most `NAME_LIMIT` characters."""
    return printable(name, NAME_LIMIT)


def _escape(character: str) -> str:
    if character.isprintable() or character == " ":
        return character
    if character in _NAMED:
        return _NAMED[character]
    category = unicodedata.category(character)
    if category in ("Cc", "Cs", "Zl", "Zp") or character in _BIDI_CONTROLS:
        code = ord(character)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return character
