"""`/lowongan` by chat, through the real conversation shell with a controllable clock: nothing
is saved before the confirming YA; cancelling leaves nothing; a deadline that passes while the
draft waits for YA sends the BKK back to the deadline step (no crash, no stuck draft); an
empty list of majors is asked again, never taken as "every major"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build_core
from bot.vacancy_hooks import DRAFT_KEY
from bot.vacancy_hooks import install as install_vacancy_hooks
from conversations.types import Inbound, InputKind
from storage import staff as staff_store
from storage import vacancies
from storage.models import Alumnus, Contact, OutboxMessage, Response, Vacancy
from storage.roster import import_roster
from tests.harness import FixedClock, make_settings
from tests.test_schools import ROSTER_A

pytestmark = pytest.mark.postgres
BKK = "777"
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # Friday 10:00 WIB


@pytest.fixture
async def core(db, db_url, tmp_path):
    c = await build_core(make_settings(db_url))
    (tmp_path / "a.csv").write_text(ROSTER_A, encoding="utf-8")
    await import_roster(c.db, c.school.id, tmp_path / "a.csv")
    async with c.db.session() as s:
        for alumnus in (await s.execute(select(Alumnus))).scalars():
            alumnus.consent_vacancies = True
            s.add(
                Response(
                    alumnus_id=alumnus.id,
                    channel="telegram",
                    status="mencari_kerja",
                    completed_at=T0 - timedelta(days=3),
                )
            )
            s.add(
                Contact(
                    channel="telegram",
                    address=f"5{alumnus.id}",
                    alumnus_id=alumnus.id,
                    state={"v": 1, "stage": "done", "lang": "id"},
                )
            )
        await s.commit()
        await staff_store.add_staff(s, c.school.id, role="bkk", name="Bu BKK", telegram_id=BKK)
    c.clock = FixedClock(T0)
    install_vacancy_hooks(c, clock=c.clock)
    yield c
    await c.close()


async def say(core, text: str) -> str:
    outcome = await core.service.handle(Inbound("telegram", BKK, InputKind.TEXT, text=text))
    return "\n".join(r.text for r in outcome.replies)


async def draft(core) -> dict | None:
    async with core.db.session() as s:
        contact = (
            await s.execute(
                select(Contact).where(Contact.channel == "telegram", Contact.address == BKK)
            )
        ).scalar_one()
        return (contact.state or {}).get(DRAFT_KEY)


async def saved(core) -> tuple[int, int]:
    async with core.db.session() as s:
        v = (await s.execute(select(func.count()).select_from(Vacancy))).scalar_one()
        o = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    return v, o


async def up_to_confirm(core, deadline: str = "28-11-2026") -> None:
    steps = [
        ("/lowongan", "Nama perusahaan"),
        ("PT Maju", "Posisi"),
        ("Teknisi", "Jurusan yang ada: TKJ"),
        ("tkj", "Lokasi"),
        ("Bekasi", "Batas lamaran"),
        (deadline, "Cara melamar"),
        ("Kirim CV ke hrd@maju.co.id", "Kirim ke 2 lulusan"),
    ]
    for text, expected in steps:
        out = await say(core, text)
        assert expected in out, (text, out)


async def test_nothing_is_saved_before_ya(core):
    await up_to_confirm(core)
    assert await saved(core) == (0, 0)
    out = await say(core, "YA")
    assert "diterbitkan: 2 pesan" in out
    assert await saved(core) == (1, 2)
    assert await draft(core) is None


@pytest.mark.parametrize("answer", ["BATAL", "tidak", "nanti saja"])
async def test_cancelling_at_confirm_leaves_no_draft(core, answer):
    await up_to_confirm(core)
    out = await say(core, answer)
    assert "Dibatalkan" in out and "tidak disimpan" in out and "draf" not in out
    assert await saved(core) == (0, 0)
    assert await draft(core) is None


async def test_cancelling_midway_leaves_nothing(core):
    await say(core, "/lowongan")
    await say(core, "PT Maju")
    out = await say(core, "batal")
    assert "tidak disimpan" in out and "#-" not in out
    assert await saved(core) == (0, 0) and await draft(core) is None


async def test_a_draft_from_the_previous_version_is_deleted_on_cancel(core):
    """Before this version the draft was saved at the confirm step (its id in the state)."""
    await up_to_confirm(core)
    async with core.db.session() as s:
        v = await vacancies.create_vacancy(
            s,
            core.school.id,
            company="PT Lama",
            position="Operator",
            majors=["TKJ"],
            location="Bekasi",
            deadline=T0.date() + timedelta(days=5),
        )
        contact = (await s.execute(select(Contact).where(Contact.address == BKK))).scalar_one()
        contact.state = {**contact.state, DRAFT_KEY: {**contact.state[DRAFT_KEY], "id": v.id}}
        await s.commit()
    assert await saved(core) == (1, 0)
    assert "tidak disimpan" in await say(core, "BATAL")
    assert await saved(core) == (0, 0)


async def test_deadline_passing_before_ya_goes_back_to_the_deadline_step(core):
    await up_to_confirm(core, deadline="28-11-2026")
    core.clock.now = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 09:00 WIB, the day after
    out = await say(core, "YA")
    assert "sudah lewat" in out
    assert await saved(core) == (0, 0)
    state = await draft(core)
    assert state["step"] == "deadline" and "deadline" not in state
    assert state["company"] == "PT Maju" and state["apply_info"] == "Kirim CV ke hrd@maju.co.id"
    # a new deadline: straight back to the confirmation (how to apply is kept)
    out = await say(core, "05-12-2026")
    assert "Kirim ke 2 lulusan" in out
    assert "diterbitkan: 2 pesan" in await say(core, "ya")
    async with core.db.session() as s:
        (v,) = (await s.execute(select(Vacancy))).scalars().all()
    assert v.deadline.isoformat() == "2026-12-05" and v.apply_info == "Kirim CV ke hrd@maju.co.id"


@pytest.mark.parametrize("nothing", [",", " ; "])
async def test_empty_majors_are_asked_again(core, nothing):
    await say(core, "/lowongan")
    await say(core, "PT Maju")
    await say(core, "Teknisi")
    out = await say(core, nothing)
    assert "minimal satu jurusan" in out and "TKJ" in out
    assert (await draft(core))["step"] == "majors"
    assert "Lokasi" in await say(core, "semua")
    assert (await draft(core))["majors"] == ["*"]


async def test_peminat_tells_staff_how_to_reach_each_graduate_in_their_language(core):
    await up_to_confirm(core)
    await say(core, "YA")
    async with core.db.session() as s:
        (vacancy_id,) = (await s.execute(select(Vacancy.id))).scalars().all()
        alumni = {a.name: a for a in (await s.execute(select(Alumnus))).scalars()}
        alumni["Adi Saputra"].phone = None  # no phone number in the roster
        await s.commit()
    ani, adi = alumni["Ani Suryani"], alumni["Adi Saputra"]
    for alumnus, username in ((ani, "ani_s"), (adi, None)):
        outcome = await core.service.handle(
            Inbound(
                "telegram",
                f"5{alumnus.id}",
                InputKind.ACTION,
                value=f"interest:{vacancy_id}",
                username=username,
            )
        )
        assert "sudah kami catat" in outcome.replies[0].text
    listing = await say(core, f"/peminat {vacancy_id}")
    assert f"Ani Suryani — XII TKJ 1 (TKJ) — Telegram t.me/ani_s; HP +{ani.phone}" in listing
    assert (
        "Adi Saputra — XII TKJ 1 (TKJ) — Telegram tanpa username dan tanpa nomor HP: "
        "hanya dapat dihubungi lewat bot ini"
    ) in listing
    assert f"5{adi.id}" not in listing and "chat" not in listing.lower()

    # an English-speaking staff member reads the same in English
    async with core.db.session() as s:
        await staff_store.add_staff(s, core.school.id, role="bkk", name="Ms Lee", telegram_id="778")
    outcome = await core.service.handle(
        Inbound(
            "telegram", "778", InputKind.TEXT, text=f"/peminat {vacancy_id}", language_hint="en"
        )
    )
    english = outcome.replies[0].text
    assert "Telegram t.me/ani_s; phone +" in english
    assert "Telegram without a username or phone number: reachable only through this bot" in english


def test_reach_text_for_every_kind_of_chat():
    from bot.vacancy_hooks import reach_text
    from conversations.messages import catalogue

    cat = catalogue()

    def person(channel, address=None, username=None, phone=None):
        return vacancies.Interested(
            "N", "K", "J", channel, address, username, phone, datetime(2026, 1, 1, tzinfo=UTC)
        )

    cases = [
        (person("whatsapp", "628111"), "WhatsApp wa.me/628111"),
        (person("whatsapp", "628111", phone="628111"), "WhatsApp wa.me/628111"),
        (person("whatsapp", "628111", phone="628222"), "WhatsApp wa.me/628111; HP +628222"),
        (person("telegram", username="x_y"), "Telegram t.me/x_y"),
        (person("telegram", phone="628333"), "Telegram (tanpa username); HP +628333"),
        (
            person("telegram"),
            "Telegram tanpa username dan tanpa nomor HP: hanya dapat dihubungi lewat bot ini",
        ),
        (person(None, phone="628444"), "HP +628444"),
        (person(None), "tidak ada chat tersambung"),
    ]
    for p, want in cases:
        assert reach_text(p, cat, "id") == want
    assert reach_text(person(None), cat, "en") == "no linked chat"
