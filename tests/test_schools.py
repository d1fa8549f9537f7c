"""Several schools in one deployment: two schools (WIB and WIT) whose rosters share class names
(XII TKJ 1) and a phone number. Identification across schools with each graduate's own school
context, staff scoping (/peminat, vacancy lists, reports, exports), regional vacancies reaching
each job-seeker once, and quiet hours in each school's zone."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select

from bot.app import build_core
from bot.export import export_xlsx
from bot.outreach.dispatcher import build_dispatcher
from bot.outreach.planner import plan_due, publish_vacancy
from bot.runner import make_telegram
from bot.staff import install as install_staff_router
from bot.vacancy_hooks import install as install_vacancy_hooks
from conversations.engine import Q_CONFIRM, Q_CONSENT
from conversations.types import Inbound, InputKind
from storage import staff as staff_store
from storage import vacancies
from storage.invitations import ensure_invitations
from storage.models import Alumnus, Contact, OutboxMessage, Response
from storage.reports import school_recap
from storage.roster import import_roster
from storage.schools import add_school
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import make_settings

pytestmark = pytest.mark.postgres

HEADER = "nisn;nama;tanggal_lahir;jenis_kelamin;kelas;jurusan;tahun_lulus;wali_kelas;no_hp\n"
ROSTER_A = HEADER + (
    "0011111111;Ani Suryani;01/02/2007;P;XII TKJ 1;TKJ;2025;Bu Sari;0812-1111-0001\n"
    "0011111112;Adi Saputra;03/04/2007;L;XII TKJ 1;TKJ;2025;Bu Sari;0812-9999-0000\n"
)
ROSTER_B = HEADER + (
    "0022222221;Budi Wenda;05/06/2007;L;XII TKJ 1;TKJ;2025;Pak Yan;0812-2222-0002\n"
    "0022222222;Bima Kogoya;07/08/2007;L;XII TKJ 1;TKJ;2025;Pak Yan;0812-9999-0000\n"
)
NAME_A, NAME_B = "SMK Negeri 1 Bandung", "SMK Negeri 2 Jayapura"


@pytest.fixture
async def fake_tg():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def two(db, db_url, tmp_path, fake_tg):
    core = await build_core(
        make_settings(
            db_url,
            school_name=NAME_A,
            school_npsn="20100001",
            telegram_bot_token=fake_tg.token,
            telegram_api_url=fake_tg.url,
        )
    )
    b = await add_school(core.db, "60100002", NAME_B, "Asia/Jayapura")
    (tmp_path / "a.csv").write_text(ROSTER_A, encoding="utf-8")
    (tmp_path / "b.csv").write_text(ROSTER_B, encoding="utf-8")
    await import_roster(core.db, core.school.id, tmp_path / "a.csv")
    await import_roster(core.db, b.id, tmp_path / "b.csv")
    codes = {}
    for sid in (core.school.id, b.id):
        codes.update({a.name: c for a, c in await ensure_invitations(core.db, sid)})
    await core.schools.refresh(core.db, force=True)
    async with core.db.session() as s:
        ids = {a.name: a.id for a in (await s.execute(select(Alumnus))).scalars()}
    core.test = {"a": core.school.id, "b": b.id, "codes": codes, "ids": ids}
    yield core
    await core.close()


async def send(core, inbound: Inbound) -> str:
    outcome = await core.service.handle(inbound)
    return "\n".join(r.text or "" for r in outcome.replies)


async def contact_of(core, channel: str, address: str) -> Contact:
    async with core.db.session() as s:
        return (
            await s.execute(
                select(Contact).where(Contact.channel == channel, Contact.address == address)
            )
        ).scalar_one()


async def identify(core, channel: str, address: str, first: Inbound, nisn=None, dob=None):
    """Answer the identification prompts until the vacancies question; returns every text."""
    texts = [await send(core, first)]
    for _ in range(8):
        stage = (await contact_of(core, channel, address)).state.get("stage")
        if stage == "vacancies":
            return texts
        if stage == "consent":
            inbound = Inbound(
                channel, address, InputKind.CHOICE, question=Q_CONSENT, value="setuju"
            )
        elif stage == "confirm":
            inbound = Inbound(channel, address, InputKind.CHOICE, question=Q_CONFIRM, value="ya")
        elif stage == "ask_id":
            assert nisn, texts
            inbound = Inbound(channel, address, InputKind.TEXT, text=nisn)
        elif stage in ("ask_dob", "verify_dob"):
            inbound = Inbound(channel, address, InputKind.TEXT, text=dob)
        else:
            raise AssertionError((stage, texts))
        texts.append(await send(core, inbound))
    raise AssertionError(texts)


# ---- identification -------------------------------------------------------------------------
async def test_code_names_the_school_before_identification(two):
    t = two.test
    texts = await identify(
        two,
        "telegram",
        "11",
        Inbound("telegram", "11", InputKind.START, value=t["codes"]["Budi Wenda"]),
    )
    assert NAME_B in texts[0] and NAME_A not in texts[0]  # the consent text, before matching
    contact = await contact_of(two, "telegram", "11")
    assert contact.alumnus_id == t["ids"]["Budi Wenda"]
    assert contact.state["alumnus"]["school_id"] == t["b"]
    # a graduate of the default school with a code sees the default school's name
    texts = await identify(
        two,
        "telegram",
        "12",
        Inbound("telegram", "12", InputKind.START, value=t["codes"]["Ani Suryani"]),
    )
    assert NAME_A in texts[0] and NAME_B not in texts[0]
    assert (await contact_of(two, "telegram", "12")).alumnus_id == t["ids"]["Ani Suryani"]


async def test_nisn_and_dob_match_in_any_school(two):
    t = two.test
    for address, nisn, dob, who in (
        ("21", "0022222221", "05-06-2007", "Budi Wenda"),
        ("22", "0011111111", "01-02-2007", "Ani Suryani"),
    ):
        first = Inbound("telegram", address, InputKind.TEXT, text="halo")
        texts = await identify(two, "telegram", address, first, nisn=nisn, dob=dob)
        assert NAME_A in texts[0]  # nothing tells the school yet: the default one
        contact = await contact_of(two, "telegram", address)
        assert contact.alumnus_id == t["ids"][who]
    # once identified, the context is the person's own school (name and zone)
    budi = await contact_of(two, "telegram", "21")
    ctx = two.service.context_of(budi.state["alumnus"]["school_id"])
    assert (ctx.school, ctx.zone) == (NAME_B, ZoneInfo("Asia/Jayapura"))
    ani = await contact_of(two, "telegram", "22")
    ctx = two.service.context_of(ani.state["alumnus"]["school_id"])
    assert (ctx.school, ctx.zone) == (NAME_A, ZoneInfo("Asia/Jakarta"))
    # a wrong birth date matches nobody in any school
    first = Inbound("telegram", "23", InputKind.TEXT, text="halo")
    await send(two, first)
    await send(two, Inbound("telegram", "23", InputKind.CHOICE, question=Q_CONSENT, value="setuju"))
    await send(two, Inbound("telegram", "23", InputKind.TEXT, text="0022222221"))
    await send(two, Inbound("telegram", "23", InputKind.TEXT, text="06-06-2007"))
    assert (await contact_of(two, "telegram", "23")).alumnus_id is None


async def test_whatsapp_phone_matches_only_a_number_unique_in_the_deployment(two):
    t = two.test
    first = Inbound("whatsapp", "6281222220002", InputKind.TEXT, text="halo")
    await identify(two, "whatsapp", "6281222220002", first, dob="05-06-2007")
    contact = await contact_of(two, "whatsapp", "6281222220002")
    assert contact.alumnus_id == t["ids"]["Budi Wenda"]
    # 0812-9999-0000 is on both rosters (one row each): it identifies nobody
    await send(two, Inbound("whatsapp", "6281299990000", InputKind.TEXT, text="halo"))
    await send(
        two,
        Inbound("whatsapp", "6281299990000", InputKind.CHOICE, question=Q_CONSENT, value="setuju"),
    )
    shared = await contact_of(two, "whatsapp", "6281299990000")
    assert shared.alumnus_id is None and shared.state["stage"] == "ask_id"


# ---- vacancies: regional reach, staff scoping -------------------------------------------------
async def job_seeker(core, name: str, chat: str) -> None:
    async with core.db.session() as s:
        alumnus = await s.get(Alumnus, core.test["ids"][name])
        alumnus.consent_vacancies = True
        s.add(
            Response(
                alumnus_id=alumnus.id,
                channel="telegram",
                status="mencari_kerja",
                completed_at=datetime.now(UTC) - timedelta(days=3),
            )
        )
        s.add(
            Contact(
                channel="telegram",
                address=chat,
                alumnus_id=alumnus.id,
                state={"v": 1, "stage": "done", "lang": "id"},
            )
        )
        await s.commit()


async def publish(core, vacancy_id: int, school_id: int, name: str, zone: str) -> int:
    return await publish_vacancy(
        core.db,
        vacancy_id,
        school_id=school_id,
        school_name=name,
        cat=core.flow.catalogue,
        settings=core.settings,
        zone=ZoneInfo(zone),
        now=datetime.now(UTC),
    )


async def new_vacancy(core, school_id: int, targets=None, position="Teknisi Jaringan") -> int:
    async with core.db.session() as s:
        v = await vacancies.create_vacancy(
            s,
            school_id,
            company="PT Nusantara",
            position=position,
            majors=["TKJ"],
            location="Jakarta",
            deadline=date.today() + timedelta(days=30),
            target_schools=targets,
        )
        await s.commit()
        return v.id


async def outbox_rows(core) -> list[OutboxMessage]:
    async with core.db.session() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_regional_vacancy_reaches_each_school_once_school_vacancy_its_own(two):
    t = two.test
    await job_seeker(two, "Ani Suryani", "501")
    await job_seeker(two, "Budi Wenda", "502")
    own = await new_vacancy(two, t["a"], position="Admin Gudang")
    assert await publish(two, own, t["a"], NAME_A, "Asia/Jakarta") == 1
    rows = await outbox_rows(two)
    assert [(r.alumnus_id, r.school_id) for r in rows] == [(t["ids"]["Ani Suryani"], t["a"])]

    regional = await new_vacancy(two, t["a"], targets=[t["a"], t["b"]])
    assert await publish(two, regional, t["a"], NAME_A, "Asia/Jakarta") == 2
    assert await publish(two, regional, t["a"], NAME_A, "Asia/Jakarta") == 0  # once each
    sent = [
        r for r in await outbox_rows(two) if r.idempotency_key.startswith(f"vacancy:{regional}:")
    ]
    by_person = {r.alumnus_id: r for r in sent}
    assert sorted(by_person) == sorted([t["ids"]["Ani Suryani"], t["ids"]["Budi Wenda"]])
    budi_row = by_person[t["ids"]["Budi Wenda"]]
    assert budi_row.school_id == t["b"]
    assert NAME_B in json.dumps(budi_row.payload) and NAME_A not in json.dumps(budi_row.payload)
    # a school vacancy of B reaches only B's job-seeker
    b_only = await new_vacancy(two, t["b"], position="Operator")
    assert await publish(two, b_only, t["b"], NAME_B, "Asia/Jayapura") == 1
    assert [
        r.alumnus_id for r in await outbox_rows(two) if f"vacancy:{b_only}:" in r.idempotency_key
    ] == [t["ids"]["Budi Wenda"]]


async def test_staff_see_only_their_school(two):
    t = two.test
    install_vacancy_hooks(two)
    await job_seeker(two, "Ani Suryani", "601")
    await job_seeker(two, "Budi Wenda", "602")
    regional = await new_vacancy(two, t["a"], targets=[t["a"], t["b"]])
    await publish(two, regional, t["a"], NAME_A, "Asia/Jakarta")
    async with two.db.session() as s:
        for name, chat in (("Ani Suryani", "601"), ("Budi Wenda", "602")):
            c = (await s.execute(select(Contact).where(Contact.address == chat))).scalar_one()
            await vacancies.record_interest(s, regional, t["ids"][name], c.id, datetime.now(UTC))
        await staff_store.add_staff(s, t["a"], role="bkk", name="Bu A", telegram_id="900")
        await staff_store.add_staff(s, t["b"], role="bkk", name="Pak B", telegram_id="901")
        await staff_store.add_staff(
            s, t["a"], role="regional", name="Disnaker", telegram_id="902", covers=["*"]
        )

    async def peminat(chat: str) -> str:
        return await send(
            two, Inbound("telegram", chat, InputKind.TEXT, text=f"/peminat {regional}")
        )

    seen_a, seen_b, seen_regional = await peminat("900"), await peminat("901"), await peminat("902")
    assert "Ani Suryani" in seen_a and "Budi Wenda" not in seen_a
    assert "Budi Wenda" in seen_b and "Ani Suryani" not in seen_b
    assert "Ani Suryani" in seen_regional and "Budi Wenda" in seen_regional
    # vacancy list counts: each school its own (1 queued, 1 interested), not the total of 2
    async with two.db.session() as s:
        for sid in (t["a"], t["b"]):
            [item] = [
                i for i in await vacancies.list_vacancies(s, sid) if i["vacancy"].id == regional
            ]
            assert (sum(item["outbox"].values()), item["interested"]) == (1, 1)
        # a school vacancy of B is not A's to read
        b_only = await new_vacancy(two, t["b"], position="Operator")
        assert await vacancies.get_vacancy(s, b_only, t["a"], targeted=True) is None
    assert "Operator" not in await send(
        two, Inbound("telegram", "900", InputKind.TEXT, text=f"/peminat {b_only}")
    )
    # chat reports: the same class name in both schools, each BKK sees only its own graduates
    install_staff_router(two)
    for chat, mine, theirs in (("900", "Adi", "Bima"), ("901", "Bima", "Adi")):
        summary = await send(
            two, Inbound("telegram", chat, InputKind.TEXT, text="/ringkasan XII TKJ 1")
        )
        assert mine in summary and theirs not in summary, summary
        recap = await send(two, Inbound("telegram", chat, InputKind.TEXT, text="/rekap"))
        assert recap and theirs not in recap
    # reports and exports: the same class name in both schools, each sees only its own
    [row_a] = await school_recap(two.db, t["a"])
    [row_b] = await school_recap(two.db, t["b"])
    assert (row_a.graduates, row_b.graduates) == (2, 2)


async def test_export_holds_only_the_schools_graduates(two, tmp_path):
    t = two.test
    path = tmp_path / "b.xlsx"
    assert await export_xlsx(two.db, t["b"], path) == 2
    book = openpyxl.load_workbook(path, read_only=True)
    cells = " ".join(
        str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row
    )
    assert "Budi Wenda" in cells and "Bima Kogoya" in cells
    assert "Ani Suryani" not in cells and "Adi Saputra" not in cells


# ---- quiet hours per school zone --------------------------------------------------------------
T = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)  # 19:30 WIB (not quiet), 21:30 WIT (quiet)
WIT_MORNING = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # 07:00 WIT the next day


async def in_progress(core, name: str, chat: str) -> None:
    async with core.db.session() as s:
        alumnus = await s.get(Alumnus, core.test["ids"][name])
        c = Contact(
            channel="telegram",
            address=chat,
            alumnus_id=alumnus.id,
            created_at=T - timedelta(days=4),
            last_inbound_at=T - timedelta(days=4),
            state={
                "v": 1,
                "stage": "q",
                "lang": "id",
                "node": "B1",
                "history": [],
                "answers": {},
                "multi": [],
                "alumnus": {"id": alumnus.id, "name": name, "kelas": "XII TKJ 1", "year": 2025},
            },
        )
        s.add(c)
        await s.commit()


async def test_reminders_and_dispatch_keep_each_schools_quiet_hours(two, fake_tg):
    t = two.test
    await in_progress(two, "Ani Suryani", "701")
    await in_progress(two, "Budi Wenda", "702")
    result = await plan_due(
        two.db,
        school_id=t["a"],
        school_name=NAME_A,
        flow=two.flow,
        settings=two.settings,
        zone=ZoneInfo("Asia/Jakarta"),
        now=T,
    )
    assert result.reminders == 2
    rows = {r.address: r for r in await outbox_rows(two)}
    assert rows["701"].not_before.replace(tzinfo=UTC) == T  # WIB evening: now
    assert rows["702"].not_before.replace(tzinfo=UTC) == WIT_MORNING  # WIT night: 07:00 WIT
    assert (rows["701"].school_id, rows["702"].school_id) == (t["a"], t["b"])
    assert NAME_B in json.dumps(rows["702"].payload) and NAME_A in json.dumps(rows["701"].payload)

    # the dispatcher: a B row due during WIT quiet hours waits; the A row goes out
    async with two.db.session() as s:
        row = await s.get(OutboxMessage, rows["702"].id)
        row.not_before = T - timedelta(minutes=1)
        await s.commit()
    telegram = make_telegram(two)
    await telegram.application.initialize()
    try:
        dispatcher = build_dispatcher(two, {"telegram": telegram}, clock=lambda: T)
        stats = await dispatcher.dispatch_due()
    finally:
        await telegram.application.shutdown()
    assert stats.sent == 1
    assert fake_tg.messages(701) and not fake_tg.messages(702)
    after = {r.address: r for r in await outbox_rows(two)}
    assert after["701"].status == "sent"
    assert after["702"].status == "pending"
    assert after["702"].not_before.replace(tzinfo=UTC) == WIT_MORNING


async def test_regional_lowongan_by_chat_reaches_every_covered_school(two):
    """A regional member's /lowongan (the guided chat) publishes to the job-seekers of every
    school they cover, each message in that graduate's own school's name; a school's BKK
    member's /lowongan reaches only their school."""
    t = two.test
    install_vacancy_hooks(two)
    await job_seeker(two, "Ani Suryani", "701")
    await job_seeker(two, "Budi Wenda", "702")
    async with two.db.session() as s:
        await staff_store.add_staff(
            s, t["a"], role="regional", name="Disnaker", telegram_id="910", covers=["*"]
        )
        await staff_store.add_staff(s, t["b"], role="bkk", name="Pak B", telegram_id="911")

    async def lowongan(chat: str, position: str, reach: int) -> None:
        deadline = (date.today() + timedelta(days=10)).strftime("%d-%m-%Y")
        steps = [
            ("/lowongan", "Nama perusahaan"),
            ("PT Lintas Papua", "Posisi"),
            (position, "Jurusan"),
            ("tkj", "Lokasi"),
            ("Jayapura", "Batas lamaran"),
            (deadline, "Cara melamar"),
            ("-", f"Kirim ke {reach} lulusan"),
            ("YA", f"diterbitkan: {reach} pesan"),
        ]
        for text_in, expected in steps:
            out = await send(two, Inbound("telegram", chat, InputKind.TEXT, text=text_in))
            assert expected in out, (text_in, out)

    await lowongan("910", "Teknisi Jaringan", 2)
    rows = await outbox_rows(two)
    by_person = {r.alumnus_id: r for r in rows if "Teknisi Jaringan" in json.dumps(r.payload)}
    assert sorted(by_person) == sorted([t["ids"]["Ani Suryani"], t["ids"]["Budi Wenda"]])
    budi, ani = by_person[t["ids"]["Budi Wenda"]], by_person[t["ids"]["Ani Suryani"]]
    assert (budi.school_id, ani.school_id) == (t["b"], t["a"])
    assert NAME_B in json.dumps(budi.payload) and NAME_A not in json.dumps(budi.payload)
    assert NAME_A in json.dumps(ani.payload) and NAME_B not in json.dumps(ani.payload)

    await lowongan("911", "Operator", 1)  # school B's own BKK: only B's job-seeker
    rows = await outbox_rows(two)
    assert [r.alumnus_id for r in rows if "Operator" in json.dumps(r.payload)] == [
        t["ids"]["Budi Wenda"]
    ]
