"""`jejak migrate` and `jejak db-check`."""

from __future__ import annotations

from bot.cli import app
from bot.cli.common import console, load_settings, run
from storage import migrate
from storage.db import Database


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply database migrations (the bot also does this on start)."""
    settings = load_settings()

    async def go() -> None:
        db = Database(settings.database_url)
        try:
            await migrate.upgrade(db)
            console.print(f"Schema at revision {await migrate.current_revision(db)}.")
        finally:
            await db.dispose()

    run(go)
