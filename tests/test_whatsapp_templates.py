"""The WhatsApp templates: the code's definitions (bot/outreach/templates.py), the operator's
guide and what the WhatsApp channel really sends must agree, or Meta refuses every message sent
outside the 24-hour window.

- docs/operator.md ("Message templates") and docs/outreach.md list each template with the same
  setting, default name, body parameters in {{n}} order and quick-reply buttons as the code;
  each suggested body uses exactly {{1}}..{{n}}; .env.example and Settings agree on the names;
- end to end (SQLite and PostgreSQL): a reminder, a follow-up, a vacancy and a weekly digest
  are planned by the real planners and sent by the real dispatcher and WhatsApp client to the
  fake Graph API, where the four templates are registered exactly as the guide tells the
  operator to create them (the fake refuses a wrong number of body parameters or a button the
  template lacks, like Meta): every one goes out, as its template, with the definition's
  parameters and buttons.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_core
from bot.channels.whatsapp_api import WhatsAppClient
from bot.digest import plan_digests
from bot.outreach import templates
from bot.outreach.dispatcher import build_dispatcher
from bot.outreach.planner import plan_due, publish_vacancy
from bot.settings import Settings
from storage import staff as staff_store
from storage import vacancies
from storage.models import Alumnus, Contact, OutboxMessage, Response
from tests.fakes.graph_api import FakeGraphApi
from tests.harness import WA_PHONE_NUMBER_ID, make_settings
from tests.test_deploy_files import env_example_lines

ROOT = Path(__file__).resolve().parents[1]
OPERATOR = ROOT / "docs" / "operator.md"
OUTREACH = ROOT / "docs" / "outreach.md"
STAFF = ROOT / "docs" / "staff.md"
VARIABLE = re.compile(r"\{\{(\d+)\}\}")


# ---- the docs ---------------------------------------------------------------------------------
def section(path: Path, heading: str) -> str:
    """The text of a markdown section, from its heading to the next heading of any level."""
    text = path.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n#", start + len(heading) + 2)
    return text[start : end if end != -1 else None]


def table(text: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in `text`, as {header: cell}."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    assert len(lines) >= 3, "no table"

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip("|").split("|")]

    header = cells(lines[0])
    assert set(lines[1]) <= set("|-: "), "the second line is not a table separator"
    return [dict(zip(header, cells(line), strict=True)) for line in lines[2:]]


def documented(path: Path, heading: str) -> dict[str, dict[str, str]]:
    """The table of `heading` in `path`, by environment variable (the setting column)."""
    rows = table(section(path, heading))
    return {row["setting"].strip("`"): row for row in rows}


def expected_params(t: templates.TemplateDef) -> str:
    return ", ".join(f"{{{{{i}}}}} {p.meaning}" for i, p in enumerate(t.params, 1))


def expected_buttons(t: templates.TemplateDef) -> str:
    if not t.buttons:
        return "none"
    return "required: " + ", ".join(f'"{b.text}" (payload `{b.payload}`)' for b in t.buttons)


GUIDES = [
    (OPERATOR, "### Message templates"),
    (OUTREACH, "## WhatsApp's 24-hour rule"),
]


@pytest.mark.parametrize(("path", "heading"), GUIDES, ids=["operator.md", "outreach.md"])
def test_the_guides_list_exactly_the_codes_templates(path, heading):
    rows = documented(path, heading)
    assert set(rows) == {t.env for t in templates.TEMPLATES}
    for t in templates.TEMPLATES:
        row = rows[t.env]
        assert row["default name"] == f"`{Settings.model_fields[t.setting].default}`", t.env
        assert row["body parameters"] == expected_params(t), t.env
        assert row["quick-reply button"] == expected_buttons(t), t.env


def test_each_suggested_body_has_exactly_the_codes_variables_in_order():
    rows = documented(OPERATOR, "### Message templates")
    for t in templates.TEMPLATES:
        body = rows[t.env]["suggested body (id)"]
        numbers = [int(n) for n in VARIABLE.findall(body)]
        assert numbers == list(range(1, len(t.params) + 1)), (t.env, body)
        # Meta refuses a body that starts or ends with a variable
        assert not VARIABLE.match(body) and not re.search(r"\}\}\W*$", body), body
    # the staff guide's example of the digest template has the digest's variables too
    example = next(ln for ln in STAFF.read_text().splitlines() if ln.startswith("> Halo {{1}}"))
    assert (
        [int(n) for n in VARIABLE.findall(example)]
        == [1, 2]
        == [i for i, _ in enumerate(templates.DIGEST.params, 1)]
    )


def test_settings_and_env_example_name_every_template():
    lines = env_example_lines()
    language = Settings.model_fields[templates.LANGUAGE_SETTING].default
    assert lines[templates.LANGUAGE_SETTING.upper()] == language == "id"
    guide = " ".join(OPERATOR.read_text().split())
    assert f"(`{language}`, the `WHATSAPP_TEMPLATE_LANGUAGE` setting)" in guide
    names = set()
    for t in templates.TEMPLATES:
        default = Settings.model_fields[t.setting].default
        assert lines[t.env] == default
        names.add(default)
    assert len(names) == len(templates.TEMPLATES)  # four different templates


def test_spec_fills_parameters_by_name_in_order_and_refuses_a_mismatch():
    spec = templates.VACANCY.spec(
        deadline="30-06-2026",
        location="Bekasi",
        company="PT A",
        position="Teknisi",
        buttons=["a:interest:7"],
    )
    assert spec == {
        "params": ["Teknisi", "PT A", "Bekasi", "30-06-2026"],
        "buttons": ["a:interest:7"],
    }
    assert templates.DIGEST.spec(name="Bu Sri", summary="5 dari 10") == {
        "params": ["Bu Sri", "5 dari 10"]
    }
    with pytest.raises(ValueError, match="takes"):
        templates.DIGEST.spec(name="Bu Sri")
    with pytest.raises(ValueError, match="takes"):
        templates.FOLLOWUP.spec(name="Adi", school="SMK")
    with pytest.raises(ValueError, match="quick-reply"):
        templates.VACANCY.spec(position="a", company="b", location="c", deadline="d")
    with pytest.raises(ValueError, match="quick-reply"):
        templates.REMINDER.spec(name="Adi", school="SMK", buttons=["a:x"])
    assert templates.for_purpose("digest") is templates.DIGEST
    assert templates.for_purpose("notice") is templates.DIGEST


# ---- what the channel sends -------------------------------------------------------------------
NOW = datetime(2026, 6, 8, 0, 0, tzinfo=UTC)  # Monday 07:00 WIB: the digest is due
REMINDED = "6281300000001"  # started the questionnaire 5 days ago, never finished
FOLLOWED = "6281300000002"  # job-seeking since 95 days ago, no vacancies
SEEKER = "6281300000003"  # job-seeking since 10 days ago, wants vacancies
STAFF_WA = "6281300000009"  # BKK staff, never wrote to the bot


def register_from_the_guide(graph: FakeGraphApi, language: str) -> dict[str, int]:
    """Register in the fake Graph API the four templates as docs/operator.md tells the operator
    to create them: the name, the variables of the suggested body, the required buttons."""
    names: dict[str, int] = {}
    for row in documented(OPERATOR, "### Message templates").values():
        name = row["default name"].strip("`")
        body_params = len(set(VARIABLE.findall(row["suggested body (id)"])))
        quick_replies = len(re.findall(r'"[^"]+" \(payload', row["quick-reply button"]))
        graph.register_template(name, language, body_params, quick_replies)
        names[name] = body_params
    return names


async def add_graduate(core, i: int, **alumnus) -> Alumnus:
    async with core.db.session() as s:
        person = Alumnus(
            school_id=core.school.id,
            nisn=f"{900 + i:010d}",
            name=f"Lulusan {i} Contoh",
            birth_date=date(2007, 1, 1),
            kelas="XII TKJ 1",
            jurusan="TKJ",
            graduation_year=2025,
            **alumnus,
        )
        s.add(person)
        await s.commit()
        return person


async def add_chat(core, person: Alumnus, wa: str, state: dict, last: datetime) -> None:
    async with core.db.session() as s:
        s.add(
            Contact(
                channel="whatsapp",
                address=wa,
                alumnus_id=person.id,
                language="id",
                state=state,
                last_inbound_at=last,
                created_at=last,
            )
        )
        await s.commit()


async def add_response(core, person: Alumnus, status: str, when: datetime) -> None:
    async with core.db.session() as s:
        s.add(
            Response(
                alumnus_id=person.id,
                channel="whatsapp",
                status=status,
                started_at=when,
                completed_at=when,
            )
        )
        await s.commit()


async def add_job_seeker_chat(core, person: Alumnus, wa: str, since: datetime) -> None:
    """A chat whose person finished the questionnaire as a job-seeker at `since` and has not
    written since."""
    state = {"v": 1, "stage": "done", "lang": "id", "history": ["B1"], "alumnus": card(person)}
    state["answers"] = {"status": "mencari_kerja"}
    await add_chat(core, person, wa, state, since)
    await add_response(core, person, "mencari_kerja", since)


def card(person: Alumnus) -> dict:
    return {"id": person.id, "name": person.name, "kelas": person.kelas, "year": 2025}


@pytest.fixture
async def graph():
    async with FakeGraphApi(enforce_24h=True) as api:
        yield api


@pytest.fixture
async def core(db, db_url):
    built = await build_core(
        make_settings(db_url, quiet_hours_start="00:00", quiet_hours_end="00:00")
    )
    yield built
    await built.close()


@pytest.mark.postgres
async def test_every_template_as_the_channel_sends_it_matches_the_guide(core, graph):
    names = register_from_the_guide(graph, core.settings.whatsapp_template_language)

    # a reminder: a graduate who started 5 days ago and stopped at the status question
    reminded = await add_graduate(core, 1)
    q_state = {
        "v": 1,
        "stage": "q",
        "lang": "id",
        "node": "B1",
        "history": [],
        "answers": {},
        "multi": [],
        "alumnus": card(reminded),
    }
    await add_chat(core, reminded, REMINDED, q_state, NOW - timedelta(days=5))
    # a follow-up: job-seeking for 95 days (FOLLOWUP_DAYS 90)
    followed = await add_graduate(core, 2, consent_vacancies=False)
    await add_job_seeker_chat(core, followed, FOLLOWED, NOW - timedelta(days=95))
    # a vacancy: a job-seeker who agreed to receive them
    seeker = await add_graduate(core, 3, consent_vacancies=True)
    await add_job_seeker_chat(core, seeker, SEEKER, NOW - timedelta(days=10))
    # the weekly digest: a BKK member reachable on WhatsApp only
    async with core.db.session() as s:
        await staff_store.add_staff(
            s, core.school.id, role="bkk", name="Bu Rina", whatsapp=STAFF_WA
        )

    planned = await plan_due(
        core.db,
        school_id=core.school.id,
        school_name=core.school.name,
        flow=core.flow,
        settings=core.settings,
        zone=core.settings.zone,
        now=NOW,
    )
    assert (planned.reminders, planned.followups) == (1, 1)
    async with core.db.session() as s:
        vacancy = await vacancies.create_vacancy(
            s,
            core.school.id,
            company="PT Maju Jaya",
            position="Teknisi Jaringan",
            majors=["TKJ"],
            location="Bekasi",
            deadline=date(2026, 6, 30),
        )
        await s.commit()
    published = await publish_vacancy(
        core.db,
        vacancy.id,
        school_id=core.school.id,
        school_name=core.school.name,
        cat=core.flow.catalogue,
        settings=core.settings,
        zone=core.settings.zone,
        now=NOW,
    )
    assert published == 1
    assert await plan_digests(core.db, flow=core.flow, settings=core.settings, now=NOW) == 1

    client = WhatsAppClient(graph.url, WA_PHONE_NUMBER_ID, graph.access_token)
    try:
        stats = await build_dispatcher(core, {"whatsapp": client}, clock=lambda: NOW).dispatch_due()
    finally:
        await client.aclose()
    assert graph.errors() == []
    assert (stats.sent, stats.templated, stats.failed) == (4, 4, 0), stats
    async with core.db.session() as s:
        rows = (await s.execute(select(OutboxMessage))).scalars().all()
    assert {r.purpose: r.status for r in rows} == dict.fromkeys(
        ("reminder", "followup", "vacancy", "digest"), "sent"
    )

    expected = {
        REMINDED: (templates.REMINDER, ["Lulusan 1 Contoh", "SMK Contoh"], []),
        FOLLOWED: (templates.FOLLOWUP, ["Lulusan 2 Contoh"], []),
        SEEKER: (
            templates.VACANCY,
            ["Teknisi Jaringan", "PT Maju Jaya", "Bekasi", "30-06-2026"],
            [f"a:interest:{vacancy.id}"],
        ),
        STAFF_WA: (templates.DIGEST, None, []),
    }
    for address, (definition, params, buttons) in expected.items():
        (call,) = graph.sent(address)
        assert call.type == "template"
        assert call.template_name == definition.name(core.settings)
        assert call.template_language == "id"
        components = call.payload["template"]["components"]
        (body,) = [c for c in components if c["type"] == "body"]
        sent_params = [p["text"] for p in body["parameters"]]
        assert len(sent_params) == len(definition.params) == names[call.template_name]
        if params is not None:
            assert sent_params == params
        sent_buttons = [c for c in components if c["type"] == "button"]
        assert len(sent_buttons) == len(definition.buttons)
        assert [b["sub_type"] for b in sent_buttons] == ["quick_reply"] * len(buttons)
        assert [b["index"] for b in sent_buttons] == [str(i) for i in range(len(buttons))]
        assert [b["parameters"][0]["payload"] for b in sent_buttons] == buttons
    (digest,) = graph.sent(STAFF_WA)
    name, summary = [p["text"] for p in digest.payload["template"]["components"][0]["parameters"]]
    assert (name, summary) == ("Bu Rina", "semua kelas 2025: 2 dari 3 menjawab, 0 baru")
