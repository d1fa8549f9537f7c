"""A small pure driver for the conversation engine, for unit and property tests.

It plays the part of the conversation shell (bot/conversation.py) without a database: it keeps
one person's engine state, feeds each input to `engine.step`, and answers the engine's `Lookup`
effects from an in-memory roster, the way the shell answers them from SQL.

    d = Driver()                       # Telegram chat, the default roster below
    d.start(ADI.code)                  # opens the deep link
    d.tap("A1", "setuju")              # taps a button of question A1
    d.text("2")                        # types an answer
    d.stage, d.node, d.answers         # where the person is now
    d.last.replies, d.last.effects     # what the last input produced (lookups included)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from conversations import engine
from conversations.engine import Context, Lookup, LookupResult, Step
from conversations.quantities import Bound, Value
from conversations.questionnaire import Flow, default_flow
from conversations.types import Inbound, InputKind, Reply
from storage.invitations import normalise_code

NOW = datetime(2025, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Asia/Jakarta


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    kelas: str
    year: int
    nisn: str
    dob: date
    code: str
    phone: str | None = None

    def card(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kelas": self.kelas, "year": self.year}


ADI = Person(1, "Adi Pratama", "XII TKJ 1", 2025, "0071234501", date(2007, 3, 14), "A7K2Q9XMPR")
BUNGA = Person(
    2,
    "Bunga Lestari",
    "XII TKJ 1",
    2025,
    "3071234502",
    date(2007, 11, 2),
    "B4P8R2TWNS",
    phone="6281322223302",
)
LINA = Person(3, "Lina Marlina", "XII AKL 1", 2024, "3061234512", date(2005, 6, 28), "M3H6J8VZCD")
ROSTER = (ADI, BUNGA, LINA)


def make_ctx(now: datetime = NOW, **kw: Any) -> Context:
    return Context(now=now, school="SMK Contoh", **kw)


@dataclass
class Result:
    """Everything one input produced, lookups answered: like the shell's Outcome, plus effects."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[Any] = field(default_factory=list)
    chosen_label: str | None = None
    lookups: list[Lookup] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.effects if isinstance(e, kind)]


@dataclass
class Driver:
    flow: Flow = field(default_factory=default_flow)
    ctx: Context = field(default_factory=make_ctx)
    channel: str = "telegram"
    address: str = "5001"
    roster: tuple[Person, ...] = ROSTER
    used_codes: set[str] = field(default_factory=set)  # codes linked from another chat already
    state: dict[str, Any] = field(default_factory=engine.initial_state)
    history: list[Result] = field(default_factory=list)
    check_json: bool = True  # assert the state survives json.dumps/loads after every step

    # ---- inputs ----
    def send(self, inp: Inbound) -> Result:
        out = Result()
        step = engine.step(self.flow, self.state, inp, self.ctx)
        self._collect(out, step)
        for _ in range(4):  # the shell feeds at most a handful of lookups back
            lookups = [e for e in step.effects if isinstance(e, Lookup)]
            if not lookups:
                break
            answer = self.answer(lookups[-1])
            step = engine.step(self.flow, step.state, answer, self.ctx)
            self._collect(out, step)
        self.state = step.state
        if self.check_json:
            assert json.loads(json.dumps(self.state)) == self.state
        self.history.append(out)
        return out

    def text(self, text: str) -> Result:
        return self.send(self._inbound(InputKind.TEXT, text=text))

    def tap(self, question: str | None, value: str) -> Result:
        return self.send(self._inbound(InputKind.CHOICE, question=question, value=value))

    def start(self, code: str | None = None) -> Result:
        text = f"/start {code}" if code else "/start"
        return self.send(self._inbound(InputKind.START, text=text, value=code))

    def media(self) -> Result:
        return self.send(self._inbound(InputKind.MEDIA))

    def action(self, value: str) -> Result:
        """A non-questionnaire button (e.g. a vacancy's "interested")."""
        return self.send(self._inbound(InputKind.ACTION, value=value))

    def _inbound(self, kind: InputKind, **kw: Any) -> Inbound:
        return Inbound(channel=self.channel, address=self.address, kind=kind, **kw)

    def _collect(self, out: Result, step: Step) -> None:
        out.replies.extend(step.replies)
        out.effects.extend(step.effects)
        out.lookups.extend(e for e in step.effects if isinstance(e, Lookup))
        if step.chosen_label is not None:
            out.chosen_label = step.chosen_label

    # ---- the shell's lookups, from the in-memory roster ----
    def answer(self, eff: Lookup) -> LookupResult:
        hit: Person | None = None
        if eff.kind == "code" and eff.code:
            code = normalise_code(eff.code)
            hit = next((p for p in self.roster if p.code == code), None)
            if hit is not None:
                return LookupResult(True, hit.card(), needs_dob=hit.code in self.used_codes)
        elif eff.kind == "nisn":
            hit = next((p for p in self.roster if p.nisn == eff.nisn and p.dob == eff.dob), None)
        elif eff.kind == "dob":
            hit = next((p for p in self.roster if p.id == eff.alumnus_id), None)
            if hit is not None and hit.dob != eff.dob:
                hit = None
        elif eff.kind == "phone" and self.channel == "whatsapp":
            hit = next((p for p in self.roster if p.phone and p.phone == self.address), None)
        return LookupResult(hit is not None, hit.card() if hit else None)

    # ---- where the person is ----
    @property
    def stage(self) -> str:
        return self.state.get("stage", "new")

    @property
    def node(self) -> str | None:
        return self.state.get("node") if self.stage == "q" else None

    @property
    def answers(self) -> dict[str, Any]:
        return dict(self.state.get("answers") or {})

    @property
    def last(self) -> Result:
        return self.history[-1]

    def prompt(self) -> Reply:
        return engine.current_prompt(self.flow, self.state, self.ctx)

    # ---- shortcuts ----
    def onboard(self, person: Person = ADI, *, vacancies: str = "ya") -> Result:
        """Deep link, consent, confirm, vacancy consent: ends at the status question B1."""
        self.start(person.code)
        self.tap(engine.Q_CONSENT, "setuju")
        self.tap(engine.Q_CONFIRM, "ya")
        out = self.tap(engine.Q_VACANCIES, vacancies)
        assert self.stage == "q" and self.node == self.flow.start, self.state
        return out


# ---- one valid walk per status branch, from the status question B1 to the end ----
# ("tap", node, code) taps a button; ("text", node, text) types an answer at that node.
BRANCH_WALKS: dict[str, list[tuple[str, str, str]]] = {
    "bekerja": [
        ("tap", "B1", "bekerja"),
        ("text", "C1", "PT Maju Jaya"),
        ("text", "C2", "Teknisi Jaringan"),
        ("tap", "C3", "swasta"),
        ("text", "C4", "2"),
        ("text", "C5", "07/2025"),
        ("text", "C6", "pkl"),
        ("tap", "C7", "3_4"),
        ("text", "C8", "sangat sesuai"),
        ("text", "Z1", "Praktik lebih banyak"),
    ],
    "wirausaha": [
        ("text", "B1", "usaha"),
        ("text", "D1", "Servis HP"),
        ("text", "D2", "Maret 2025"),
        ("text", "D3", "sendiri"),
        ("tap", "D4", "2_3"),
        ("tap", "D5", "sesuai"),
        ("text", "Z1", "Terima kasih"),
    ],
    "melanjutkan": [
        ("text", "B1", "KULIAH"),
        ("text", "E1", "Politeknik Negeri Jakarta"),
        ("text", "E2", "Teknik Informatika"),
        ("text", "E3", "d3"),
        ("tap", "E4", "ya"),
        ("text", "Z1", "lewati"),
    ],
    "kursus": [
        ("tap", "B1", "kursus"),
        ("text", "F1", "BLK Bekasi"),
        ("text", "F2", "Pengelasan"),
        ("text", "F3", "luar negeri"),
        ("text", "Z1", "lewati"),
    ],
    "mencari_kerja": [
        ("text", "B1", "5"),
        ("text", "G1", "5 bulan"),
        ("text", "G2", "1, 3"),
        ("text", "G3", "tidak"),
        ("text", "Z1", "lewati"),
    ],
    "tidak_mencari": [
        ("text", "B1", "6"),
        ("text", "H1", "sakit"),
        ("text", "Z1", "lewati"),
    ],
}

# what each walk above stores
BRANCH_ANSWERS: dict[str, dict[str, Any]] = {
    "bekerja": {
        "status": "bekerja",
        "employer": "PT Maju Jaya",
        "job_title": "Teknisi Jaringan",
        "employer_type": "swasta",
        "work_location": "provinsi_sama",
        "start_month": "07/2025",
        "job_channel": "tempat_pkl",
        "income": "3_4",
        "relevance": "sangat_sesuai",
        "school_feedback": "Praktik lebih banyak",
    },
    "wirausaha": {
        "status": "wirausaha",
        "business_field": "Servis HP",
        "start_month": "03/2025",
        "workers": "0",
        "income": "2_3",
        "relevance": "sesuai",
        "school_feedback": "Terima kasih",
    },
    "melanjutkan": {
        "status": "melanjutkan",
        "institution": "Politeknik Negeri Jakarta",
        "study_program": "Teknik Informatika",
        "level": "d3",
        "relevance": "ya",
    },
    "kursus": {
        "status": "kursus",
        "provider": "BLK Bekasi",
        "field": "Pengelasan",
        "goal": "kerja_luar_negeri",
    },
    "mencari_kerja": {
        "status": "mencari_kerja",
        "searching_months": "4_6",
        "obstacles": ["sedikit_lowongan", "tidak_sesuai_jurusan"],
        "willing_to_relocate": "tidak",
    },
    "tidak_mencari": {"status": "tidak_mencari", "reason": "kesehatan"},
}


def branch_nodes(flow: Flow, status: str) -> list[str]:
    """The node ids a person of this status goes through, B1 and Z1 included."""
    ids = [flow.start]
    nid = flow.node(flow.start).successor(status)
    while nid != "end":
        ids.append(nid)
        nid = flow.node(nid).next or "end"
    return ids


def required_fields(flow: Flow, status: str) -> set[str]:
    return {flow.node(n).field for n in branch_nodes(flow, status) if flow.node(n).required}


def walk(d: Driver, steps: list[tuple[str, str, str]]) -> None:
    """Play the steps, checking that each is asked at the node it belongs to."""
    for how, node_id, value in steps:
        assert d.node == node_id, (d.node, node_id, d.state)
        d.tap(node_id, value) if how == "tap" else d.text(value)


# ---- typed quantities, for questions whose options are numeric ranges ----
def decimal(value: Fraction) -> str:
    """2.5 as "2,5", 3 as "3" (Indonesian decimal comma)."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


@st.composite
def typed_quantity(draw, unit: str, bound: Bound) -> str:
    """A typed amount that lies inside `bound` only, written the ways people write it."""
    high = bound.high if bound.high is not None else bound.low + 30
    step = 1 if unit == "people" else 100  # whole people; hundredths of months and millions
    value = draw(
        st.integers(int(bound.low * step), int(high * step))
        .map(lambda n: Fraction(n, step))
        .filter(lambda v: bound.holds(Value(v)))
    )
    if unit == "people":
        forms = [f"{value}", f"{value} orang", f"ada {value} karyawan"]
    elif unit == "months":
        forms = [f"{decimal(value)} bulan", f"sudah {decimal(value)} bln"]
        if value.denominator == 1:
            forms.append(f"{value}")
        if value % 12 == 0 and value:
            forms.append(f"{value // 12} tahun")
    else:
        rupiah = int(value * 10**6)
        forms = [f"{decimal(value)} juta", f"{decimal(value)}jt", f"{rupiah} rupiah"]
        if rupiah >= 100_000:  # a bare amount below is read as ribu, or asked again
            forms.append(f"Rp {rupiah:,}".replace(",", "."))
        if (value * 1000).denominator == 1:
            forms.append(f"{value * 1000}rb")
    return draw(st.sampled_from(forms))
