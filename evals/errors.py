"""Errors that the CLI turns into one-line messages and documented exit codes.

Exit codes: 0 ok, 1 runtime failure, 2 usage or input error (3 is reserved for failed gates).
"""
from __future__ import annotations


class EvalsError(Exception):
    """Base class: a message meant for the user, never a traceback."""

    exit_code = 1


class UsageError(EvalsError):
    """The user asked for something that cannot be: a bad flag, an unknown name, a broken file."""

    exit_code = 2


class InputError(UsageError):
    """A file the user gave (suite, task, items) is malformed; the message names file, line or field."""

    def __init__(self, where: str, problem: str, fix: str = "") -> None:
        msg = f"{where}: {problem}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class RuntimeFailure(EvalsError):
    """The run could not finish: a model failed to load, a backend broke, requests kept failing."""

    exit_code = 1
