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
        ("Joko Susilo", "refused", None, "6281100000010"),
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
