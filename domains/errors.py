"""Errors shared by every layer.

`SpecplanError` marks a problem with the user's input or environment (a missing file, an
unknown name, a budget too small). The CLI prints its message as one line and exits
non-zero, without a traceback. Anything else is a bug and keeps its traceback.

It lives in `domains` because that is the bottom layer: `strategies` and `planner` may
import `domains`, never the reverse.
"""

from __future__ import annotations


class SpecplanError(Exception):
    """A user-facing error: the message names the input and the problem."""


class DomainError(SpecplanError, ValueError):
    """A domain or data source cannot be read or used."""
