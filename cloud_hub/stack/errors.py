"""The one base class of the stack's expected failures: the commands print these as one clear message."""

from __future__ import annotations


class StackError(RuntimeError):
    pass


class DatabaseServerError(StackError):
    pass
