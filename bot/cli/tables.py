"""Printing CLI tables without cutting cells: piped or redirected output (a file, `| less`, cron
mail) gets the table's full width; a terminal gets its own width, and the columns that matter
are declared no_wrap with a min_width by the commands, so only free text folds."""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


def print_table(console: Console, table: Table) -> None:
    if console.is_terminal:
        console.print(table)
        return
    wide = console.options.update_width(10_000)
    width = Measurement.get(console, wide, table).maximum
    console.print(table, width=max(width, console.width))
