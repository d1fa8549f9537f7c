"""Report queries and their chat/terminal/chart renderings, against the hand-checked fixture."""

from __future__ import annotations

import pytest

from storage import reports
from tests.fixtures.reports_fixture import build, t

pytestmark = pytest.mark.postgres


async def test_class_summary_2024_exact(db):
    f = await build(db)
    s = await reports.class_summary(db, f.school_id, "XII TKJ 1", 2024)
    assert (s.graduates, s.answered) == (10, 5)
    assert s.rate == pytest.approx(0.5)
    assert s.status_counts == {
        "bekerja": 2,
        "wirausaha": 1,
        "melanjutkan": 1,
        "kursus": 0,
        "mencari_kerja": 1,
        "tidak_mencari": 0,
    }
    got = [(n.name, n.reason, n.at_question, n.phone) for n in s.non_responders]
    assert got == [
        ("Fajar Nugroho", "never_opened", None, "6281100000006"),
        ("Gita Permata", "started", "employer_type", "6281100000007"),
        ("Indah Sari", "unreachable", None, "6281100000009"),
        ("Hadi Kusuma", "stopped", None, "6281100000008"),
        ("Joko Susilo", "declined", None, "6281100000010"),
    ]


async def test_class_summary_defaults_to_newest_cohort_and_other_kinds(db):
    f = await build(db)
    s = await reports.class_summary(db, f.school_id, "XII TKJ 1")
    assert s.graduation_year == 2025
    assert (s.graduates, s.answered) == (3, 2)
    assert s.status_counts["bekerja"] == 1 and s.status_counts["melanjutkan"] == 1
    assert [(n.name, n.reason) for n in s.non_responders] == [("Rudi Hermawan", "never_opened")]

    rpl = await reports.class_summary(db, f.school_id, "XII RPL 1")
    assert (rpl.graduates, rpl.answered) == (5, 3)
    assert [(n.name, n.reason, n.at_question) for n in rpl.non_responders] == [
        ("Nur Aini", "never_opened", None),
        ("Oki Setiawan", "started", "status"),
    ]

    empty = await reports.class_summary(db, f.school_id, "XII XYZ 9")
    assert (empty.graduates, empty.answered, empty.rate, empty.non_responders) == (0, 0, None, [])
    other = await reports.class_summary(db, f.other_school_id, "XII TKJ 1")
    assert (other.graduates, other.answered) == (1, 1)


async def test_school_recap_exact(db):
    f = await build(db)
    rows = await reports.school_recap(db, f.school_id)
    assert [(r.graduation_year, r.jurusan) for r in rows] == [
        (2024, "RPL"),
        (2024, "TKJ"),
        (2025, "TKJ"),
    ]
    rpl, tkj24, tkj25 = rows
    assert (rpl.graduates, rpl.responders, rpl.b, rpl.m, rpl.w) == (5, 3, 1, 0, 0)
    assert (rpl.kursus, rpl.mencari_kerja, rpl.tidak_mencari, rpl.non_responders) == (1, 0, 1, 2)
    assert rpl.bmw_rate == pytest.approx(1 / 3)
    assert rpl.relevant_rate == 1.0 and rpl.median_waiting_months == 0

    assert (tkj24.graduates, tkj24.responders) == (10, 5)
    assert (tkj24.b, tkj24.m, tkj24.w, tkj24.kursus, tkj24.mencari_kerja, tkj24.tidak_mencari) == (
        2,
        1,
        1,
        0,
        1,
        0,
    )
    assert tkj24.bmw_rate == pytest.approx(0.8)
    assert (tkj24.relevant, tkj24.relevance_answered) == (2, 4)
    assert tkj24.waiting == {2: 1, 0: 1, 6: 1}
    assert tkj24.median_waiting_months == 2

    assert (tkj25.graduates, tkj25.responders, tkj25.b, tkj25.m) == (3, 2, 1, 1)
    assert tkj25.bmw_rate == 1.0 and tkj25.relevant_rate == 0.5
    assert tkj25.median_waiting_months == 3

    only_2025 = await reports.school_recap(db, f.school_id, graduation_year=2025)
    assert [(r.graduation_year, r.jurusan, r.graduates) for r in only_2025] == [(2025, "TKJ", 3)]
    totals = reports.recap_totals(rows)
    assert [(r.graduation_year, r.graduates, r.responders, r.bmw) for r in totals] == [
        (2024, 15, 8, 5),
        (2025, 3, 2, 2),
    ]
    assert totals[0].median_waiting_months == 1.0  # waits 0, 0, 2, 6


async def test_answered_since_lists_new_answers_and_updates(db):
    f = await build(db)
    got = await reports.answered_since(db, f.school_id, "XII TKJ 1", t("2025-09-22", 0), 2024)
    assert [(a.name, a.status, a.first_time) for a in got] == [
        ("Budi Hartono", "bekerja", False),
        ("Dewi Anggraini", "wirausaha", True),
    ]
    assert got[0].completed_at == t("2025-09-25")
    assert await reports.answered_since(db, f.school_id, "XII TKJ 1", t("2025-10-01")) == []


def test_median_from_histogram():
    assert reports.median_from_histogram({}) is None
    assert reports.median_from_histogram({5: 1}) == 5
    assert reports.median_from_histogram({0: 2, 6: 2}) == 3
    assert reports.median_from_histogram({0: 1, 2: 1, 6: 1}) == 2


def test_classify_nonresponder_precedence():
    c = reports.classify_nonresponder
    assert c(stopped=True, contacts=[], unfinished_question=None, has_unfinished=False) == (
        "stopped",
        None,
    )
    unreachable = {"unreachable_at": 1}
    alive = {"last_inbound_at": 1, "state": {"node": "income"}}
    assert c(stopped=False, contacts=[unreachable], unfinished_question=None, has_unfinished=False)[
        0
    ] == ("unreachable")
    # one reachable chat in progress: started, not unreachable
    assert c(
        stopped=False, contacts=[unreachable, alive], unfinished_question=None, has_unfinished=False
    ) == ("started", "income")
    assert c(stopped=False, contacts=[{}], unfinished_question=None, has_unfinished=False) == (
        "never_opened",
        None,
    )
    # declined from their invitation link: no chat stays linked, the mark on the roster row says it
    assert c(
        stopped=True, contacts=[], unfinished_question=None, has_unfinished=False, declined=True
    ) == ("declined", None)


# --- rendering --------------------------------------------------------------------------------


async def test_format_class_summary_names_reasons_and_split(db):
    from bot.reports import format_class_summary

    f = await build(db)
    s = await reports.class_summary(db, f.school_id, "XII TKJ 1", 2024)
    [text] = format_class_summary(s, "id")
    assert "Lulusan: 10 · Sudah menjawab: 5 (50%)" in text
    assert "• Bekerja: 2" in text and "Kursus" not in text  # zero counts are left out
    assert "• Gita Permata — berhenti di: jenis tempat kerja — +6281100000007" in text
    assert "• Fajar Nugroho — +6281100000006" in text
    # people who said STOP or declined: named, but no number to chase them with
    assert "• Hadi Kusuma\n" in text and "6281100000008" not in text
    assert text.rstrip().endswith("• Joko Susilo")
    [en] = format_class_summary(s, "en")
    assert "Never opened the invitation (1):" in en and "Graduates: 10" in en

    parts = format_class_summary(s, "id", max_len=120)
    assert len(parts) > 2 and all(len(p) <= 120 for p in parts)
    joined = "\n".join(parts)
    for name in ("Fajar Nugroho", "Gita Permata", "Indah Sari", "Hadi Kusuma", "Joko Susilo"):
        assert joined.count(name) == 1


async def test_format_recap_and_digest(db):
    from bot.reports import format_digest, format_recap

    f = await build(db)
    rows = await reports.school_recap(db, f.school_id)
    [text] = format_recap(rows, "id")
    assert text.index("Rekap lulusan 2025") < text.index("Rekap lulusan 2024")
    assert "TKJ: 10 lulusan, 5 menjawab (50%)" in text
    assert "BMW 80% · Relevan 50% · Masa tunggu (median) 2 bln" in text
    assert "Semua jurusan: 15 lulusan, 8 menjawab (53%)" in text
    assert "BMW 62% · Relevan 60% · Masa tunggu (median) 1 bln" in text
    [en] = format_recap(rows, "en")
    assert "RPL: graduates 5, answered 3 (60%)" in en

    s = await reports.class_summary(db, f.school_id, "XII TKJ 1", 2024)
    changes = await reports.answered_since(db, f.school_id, "XII TKJ 1", t("2025-09-22", 0), 2024)
    digest = "\n".join(format_digest(s, changes, "22/09/2025", "id"))
    assert digest.startswith(
        "Sejak 22/09/2025: 2 jawaban baru\n• Budi Hartono — Bekerja (memperbarui)"
    )
    assert "• Dewi Anggraini — Wirausaha\n" in digest and "Ringkasan XII TKJ 1" in digest


async def test_recap_chart_is_a_phone_sized_png(db):
    from io import BytesIO

    from PIL import Image

    from bot.reports import recap_chart_png

    f = await build(db)
    png = recap_chart_png(await reports.school_recap(db, f.school_id))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < len(png) < 1_000_000
    image = Image.open(BytesIO(png))
    image.verify()
    width, height = Image.open(BytesIO(png)).size
    assert width == 1080 and 500 < height < 2000
    one_year = recap_chart_png(await reports.school_recap(db, f.school_id), graduation_year=2025)
    assert Image.open(BytesIO(one_year)).size[1] < height
