"""Errors that stop a process with one line for the operator instead of a traceback."""

from __future__ import annotations


class SettingError(RuntimeError):
    """A setting keeps the process from starting. `str()` is one line that names the setting
    and what to fix, never a secret value. `jejak` prints it and exits with `exit_code`
    (2: a bad setting; fix it and start again)."""

    exit_code = 2
