"""Imports every command module so that each registers itself on `bot.cli.app`."""

from bot.cli import db as _db  # noqa: F401
