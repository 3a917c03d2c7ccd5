"""Small checks on text read from files and command lines, shared by the parsers.

A module of its own, importing nothing from talentsim, so that every other module (the store
included, which :mod:`talentsim.experiments` imports) can use it without an import cycle.
"""

from __future__ import annotations


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is a whole number written in the ASCII digits 0-9.

    ``"12"`` is; ``"²"``, a full-width ``"４"``, ``"-1"`` and ``""`` are not. ``str.isdigit``
    alone accepts ``"²"``, which ``int`` then refuses with a ``ValueError``: check with this
    before ``int`` wherever the text comes from a user or a file.
    """
    return text.isascii() and text.isdigit()
