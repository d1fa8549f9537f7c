"""Reports rendered for people: chat text (Indonesian / English) and the recap chart (PNG).

Plain text only (no Markdown), so the same strings work on Telegram, WhatsApp and the console.
Long texts are split into several messages under `max_len` characters, at line boundaries.

The strings are in the message catalogue (conversations/messages.yaml, keys `report.*`).
Phone numbers are shown only to the staff member asking and never logged.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from conversations.messages import LANGUAGES, catalogue
from storage.reports import AnsweredEntry, ClassSummary, RecapRow, recap_totals

MAX_MESSAGE_LEN = 4096  # Telegram and WhatsApp text messages


class _Group:
    """One group of report texts (`report.<group>.<code>` in the catalogue), looked up by code."""

    def __init__(self, group: str, lang: str) -> None:
        self.prefix, self.lang = f"report.{group}.", lang

    def get(self, code: str, default: str) -> str:
        return catalogue().get(self.prefix + code, self.lang, default) or default

    def __getitem__(self, code: str) -> str:
        return catalogue().t(self.prefix + code, self.lang)


class _Texts:
    """The report texts of one language, from the message catalogue (`report.*`): a plain name
    gives the template (callers fill it with .format), a group gives a `_Group`."""

    GROUPS = frozenset({"reasons", "statuses", "questions", "chart_series"})

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __getitem__(self, name: str) -> Any:
        if name in self.GROUPS:
            return _Group(name, self.lang)
        return catalogue().t("report." + name, self.lang)


STATUS_ORDER = ("bekerja", "melanjutkan", "wirausaha", "kursus", "mencari_kerja", "tidak_mencari")
# shown with the phone number: the ones a teacher should chase (not STOP or refusals)
REACHABLE_REASONS = frozenset({"never_opened", "started", "unreachable"})


def _t(lang: str) -> _Texts:
    return _Texts(lang if lang in LANGUAGES else "id")


def _pct(value: float | None, lang: str) -> str:
    if value is None:
        return str(_t(lang)["na"])
    return f"{round(value * 100)}%"


def _num(value: float | None, lang: str) -> str:
    if value is None:
        return str(_t(lang)["na"])
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "id" else text


def split_messages(lines: Iterable[str], max_len: int = MAX_MESSAGE_LEN) -> list[str]:
    """Pack lines into messages of at most `max_len` characters, breaking between lines.

    A single line longer than `max_len` is cut. Messages never start or end with blank lines.
    """
    if max_len < 20:
        raise ValueError("max_len too small")
    messages: list[str] = []
    current = ""
    for line in lines:
        while len(line) > max_len:
            if current:
                messages.append(current)
                current = ""
            messages.append(line[:max_len])
            line = line[max_len:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= max_len:
            current = candidate
        else:
            messages.append(current)
            current = line
    messages.append(current)
    return [m.strip("\n") for m in messages if m.strip()]


def _phone(phone: str | None) -> str | None:
    return f"+{phone}" if phone else None


def summary_lines(summary: ClassSummary, lang: str = "id") -> list[str]:
    tx = _t(lang)
    if summary.graduation_year:
        title = tx["summary_title"].format(kelas=summary.kelas, year=summary.graduation_year)
    else:
        title = tx["summary_title_noyear"].format(kelas=summary.kelas)
    lines = [title]
    if not summary.graduates:
        return [*lines, tx["summary_empty"]]
    lines.append(
        tx["summary_counts"].format(
            graduates=summary.graduates,
            answered=summary.answered,
            rate=_pct(summary.rate, lang),
        )
    )
    if summary.answered:
        lines += ["", tx["status_heading"]]
        for code in (*STATUS_ORDER, *sorted(set(summary.status_counts) - set(STATUS_ORDER))):
            n = summary.status_counts.get(code, 0)
            if n:
                lines.append(f"• {tx['statuses'].get(code, code)}: {n}")
    if not summary.non_responders:
        return [*lines, "", tx["all_answered"]]
    lines += ["", tx["nonresponders_heading"].format(n=len(summary.non_responders))]
    for reason, people in summary.by_reason().items():
        lines += ["", f"{tx['reasons'].get(reason, reason)} ({len(people)}):"]
        for p in people:
            parts = [p.name]
            if p.reason == "started" and p.at_question:
                question = tx["questions"].get(p.at_question, p.at_question)
                parts.append(tx["at_question"].format(question=question))
            if p.reason in REACHABLE_REASONS:
                parts.append(_phone(p.phone) or tx["no_phone"])
            lines.append("• " + " — ".join(parts))
    return lines


def format_class_summary(
    summary: ClassSummary, lang: str = "id", max_len: int = MAX_MESSAGE_LEN
) -> list[str]:
    """/ringkasan for one class, as one or more chat messages."""
    return split_messages(summary_lines(summary, lang), max_len)


def changes_lines(
    entries: Sequence[AnsweredEntry], since_label: str, lang: str = "id"
) -> list[str]:
    tx = _t(lang)
    if not entries:
        return [tx["changes_none"].format(since=since_label)]
    lines = [tx["changes_heading"].format(since=since_label, n=len(entries))]
    for e in entries:
        status = tx["statuses"].get(e.status or "?", e.status or "?")
        suffix = "" if e.first_time else f" ({tx['changes_update']})"
        lines.append(f"• {e.name} — {status}{suffix}")
    return lines


def format_digest(
    summary: ClassSummary,
    entries: Sequence[AnsweredEntry],
    since_label: str,
    lang: str = "id",
    max_len: int = MAX_MESSAGE_LEN,
) -> list[str]:
    """The weekly digest for one class: what changed since `since_label`, then the summary."""
    lines = [*changes_lines(entries, since_label, lang), "", *summary_lines(summary, lang)]
    return split_messages(lines, max_len)


def recap_lines(rows: Sequence[RecapRow], lang: str = "id") -> list[str]:
    tx = _t(lang)
    if not rows:
        return [tx["recap_empty"]]
    totals = {r.graduation_year: r for r in recap_totals(list(rows))}
    lines: list[str] = []
    for year in sorted({r.graduation_year for r in rows}, reverse=True):
        if lines:
            lines.append("")
        lines.append(tx["recap_title"].format(year=year))
        year_rows = [r for r in rows if r.graduation_year == year]
        if len(year_rows) > 1:
            year_rows.append(totals[year])
        for r in year_rows:
            waiting = r.median_waiting_months
            lines += [
                "",
                tx["recap_line1"].format(
                    jurusan=r.jurusan or tx["recap_all"],
                    graduates=r.graduates,
                    responders=r.responders,
                    rate=_pct(r.response_rate, lang),
                ),
                tx["recap_line2"].format(
                    b=r.b,
                    m=r.m,
                    w=r.w,
                    kursus=r.kursus,
                    mencari=r.mencari_kerja,
                    tidak=r.tidak_mencari,
                ),
                tx["recap_line3"].format(
                    bmw=_pct(r.bmw_rate, lang),
                    relevant=_pct(r.relevant_rate, lang),
                    waiting=tx["na"]
                    if waiting is None
                    else tx["months"].format(n=_num(waiting, lang)),
                ),
            ]
    return lines


def format_recap(
    rows: Sequence[RecapRow], lang: str = "id", max_len: int = MAX_MESSAGE_LEN
) -> list[str]:
    """/rekap as one or more chat messages (newest graduation year first, totals per year)."""
    return split_messages(recap_lines(rows, lang), max_len)


# chart colours: BMW in greens/blues, the rest warm, non-responders grey
CHART_COLOURS = {
    "bekerja": "#1b7837",
    "melanjutkan": "#2166ac",
    "wirausaha": "#5aae61",
    "kursus": "#92c5de",
    "mencari_kerja": "#f4a582",
    "tidak_mencari": "#d6604d",
    "none": "#bababa",
}


def recap_chart_png(
    rows: Sequence[RecapRow], lang: str = "id", graduation_year: int | None = None
) -> bytes:
    """Stacked horizontal bars per major (one panel per graduation year), as PNG bytes.

    1080 px wide, large type, so it stays readable when sent as a photo to a phone. Defaults to
    every year in `rows`; pass `graduation_year` to draw one.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    tx = _t(lang)
    if graduation_year is not None:
        rows = [r for r in rows if r.graduation_year == graduation_year]
    years = sorted({r.graduation_year for r in rows}, reverse=True) or [graduation_year]
    per_year = {
        y: sorted((r for r in rows if r.graduation_year == y), key=lambda r: r.jurusan)
        for y in years
    }
    bars = sum(max(1, len(v)) for v in per_year.values())
    dpi = 100
    height_in = min(60.0, 2.4 + 1.9 * len(years) + 0.75 * bars)
    fig = Figure(figsize=(10.8, height_in), dpi=dpi)
    series = ("bekerja", "melanjutkan", "wirausaha", "kursus", "mencari_kerja", "tidak_mencari")
    axes = fig.subplots(
        len(years),
        1,
        squeeze=False,
        gridspec_kw={"height_ratios": [max(1, len(per_year[y])) for y in years]},
    )[:, 0]
    for ax, year in zip(axes, years, strict=True):
        year_rows = per_year[year]
        labels = [r.jurusan for r in year_rows]
        left = [0] * len(year_rows)
        positions = list(range(len(year_rows)))
        for key in (*series, "none"):
            values = [
                (r.non_responders if key == "none" else r.counts.get(key, 0)) for r in year_rows
            ]
            ax.barh(
                positions,
                values,
                left=left,
                color=CHART_COLOURS[key],
                label=tx["chart_series"][key],
                height=0.7,
                edgecolor="white",
                linewidth=0.8,
            )
            left = [a + b for a, b in zip(left, values, strict=True)]
        for pos, r, total in zip(positions, year_rows, left, strict=True):
            ax.text(
                total,
                pos,
                f"  BMW {_pct(r.bmw_rate, lang)}",
                va="center",
                ha="left",
                fontsize=17,
                fontweight="bold",
            )
        ax.set_yticks(positions, labels, fontsize=20)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=16)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, (max(left) if left else 1) * 1.28 or 1)
        ax.set_title(
            tx["chart_title"].format(year=year if year else ""),
            fontsize=24,
            fontweight="bold",
            loc="left",
        )
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[-1].set_xlabel(tx["chart_xlabel"], fontsize=17)
    handles, legend_labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        legend_labels,
        loc="lower center",
        ncol=3,
        fontsize=16,
        frameon=False,
    )
    legend_in = 1.4
    fig.tight_layout(rect=(0, legend_in / height_in, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


__all__ = [
    "MAX_MESSAGE_LEN",
    "changes_lines",
    "format_class_summary",
    "format_digest",
    "format_recap",
    "recap_chart_png",
    "recap_lines",
    "split_messages",
    "summary_lines",
]
