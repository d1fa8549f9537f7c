"""Imports every command module so that each registers itself on `bot.cli.app`."""

from bot.cli import db as _db  # noqa: F401
from bot.cli import demo as _demo  # noqa: F401
from bot.cli import export as _export  # noqa: F401
from bot.cli import invite as _invite  # noqa: F401
from bot.cli import outreach as _outreach  # noqa: F401
from bot.cli import report as _report  # noqa: F401
from bot.cli import roster as _roster  # noqa: F401
from bot.cli import run as _run  # noqa: F401
from bot.cli import school as _school  # noqa: F401
from bot.cli import staff as _staff  # noqa: F401
from bot.cli import vacancy as _vacancy  # noqa: F401
