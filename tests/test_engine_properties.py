"""Property tests of the conversation engine (hypothesis).

For every status branch, a person answers the questionnaire while also sending random text,
random taps (stale ones included), keywords, media, KEMBALI and LEWATI. At every step:
- the engine does not raise, does not change the state it was given, and the new state survives a
  JSON round trip (the driver checks that);
- every input gets at least one reply;
- an input that is surely invalid at the current question never advances: the question and the
  answers stay the same, and the reply explains and asks the same question again;
- an input that does advance stores a value that is valid for the question it answered.
Every walk reaches `done` with all required fields of its branch and exactly one Complete effect.
"""

from __future__ import annotations

import copy
import re
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations import engine
from conversations.answers import clean_text
from conversations.engine import BeginResponse, Complete, DeleteData, Link, Refused, ShowData
from conversations.questionnaire import END, Node
from conversations.types import InputKind
from tests.engine_driver import (
    ADI,
    BRANCH_WALKS,
    BUNGA,
    LINA,
    Driver,
    required_fields,
    typed_quantity,
)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW_MONTH = (2025, 11)  # tests/engine_driver.NOW in Jakarta
MONTH_RE = re.compile(r"(0[1-9]|1[0-2])/(\d{4})")

# ---- strategies ----
WORDS = st.sampled_from(
    [
        "PT Maju Jaya",
        "Toko Berkah",
        "Politeknik Negeri Bandung",
        "Akuntansi",
        "BLK Cevest",
        "Las listrik",
        "Operator produksi",
        "CV Sinar Abadi 2",
        "Warung makan Bu Sri",
        "Kursus Bahasa Jepang",
    ]
)
RANDOM_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
)
EMOJI_OR_PUNCT = st.text(alphabet="👍🙂🎉?!.,-…*#()", min_size=1, max_size=6)
KEYWORDS_NO_MOVE = st.sampled_from(
    ["/bantuan", "BANTUAN", "help", "DATA", "/data", "STOP", "/stop", "MULAI", "/start"]
)
ANY_QUESTION = st.sampled_from(
    ["A1", "A2", "A3", "B1", "C1", "C3", "C7", "D3", "E3", "G2", "H1", "Z1", "?", "x:y"]
)


def lang(d: Driver) -> str:
    return d.state.get("lang", "id")


def current(d: Driver) -> Node:
    assert d.node is not None, d.state
    return d.flow.node(d.node)


@st.composite
def valid_answer(draw, d: Driver, status: str) -> list[tuple[str, Any]]:
    """Inputs that answer the current question validly (a multi by taps takes several)."""
    node = current(d)
    if node.id == d.flow.start:
        code = status
        codes = list(d.flow.choice_sets[node.choices])
        how = draw(st.sampled_from(["tap", "number", "label"]))
        if how == "tap":
            return [("tap", (node.id, code))]
        if how == "number":
            return [("text", str(codes.index(code) + 1))]
        return [("text", d.flow.label(node.choices, code, lang(d)).upper())]
    if not node.required and draw(st.integers(0, 3)) == 0:
        return [("text", draw(st.sampled_from(["lewati", "LEWATI", "skip", "/lewati"])))]
    if node.type == "text":
        return [("text", draw(WORDS))]
    if node.type == "month":
        year = draw(st.integers(2024, 2025))
        month = draw(st.integers(1, 11 if year == 2025 else 12))
        form = draw(st.sampled_from(["{m:02d}/{y}", "{m}-{y}", "{y}-{m:02d}"]))
        return [("text", form.format(m=month, y=year))]
    codes = list(d.flow.choice_sets[node.choices])
    if node.type == "multi":
        picked = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=3, unique=True))
        if draw(st.booleans()):
            numbers = sorted(codes.index(c) + 1 for c in picked)
            sep = draw(st.sampled_from([",", ", ", " ", " dan "]))
            return [("text", sep.join(str(n) for n in numbers))]
        taps = [("tap", (node.id, c)) for c in picked]
        return [*taps, ("tap", (node.id, engine.MULTI_DONE))]
    code = draw(st.sampled_from(codes))
    ranges = d.flow.ranges.get(node.choices)
    bound = next((b for b in ranges.bounds if b.code == code), None) if ranges else None
    how = draw(st.sampled_from(["tap", "number", "label"] + (["quantity"] if bound else [])))
    if how == "tap":
        return [("tap", (node.id, code))]
    if how == "quantity":
        return [("text", draw(typed_quantity(ranges.unit, bound)))]
    if how == "number":  # at a range question a bare number is a quantity: name the position
        position = codes.index(code) + 1
        return [("text", f"nomor {position}" if ranges else f" {position} ")]
    return [("text", d.flow.label(node.choices, code, lang(d)).lower())]


@st.composite
def surely_invalid(draw, d: Driver) -> tuple[str, Any]:
    """An input that must not advance the current question."""
    node = current(d)
    options = []
    if node.type in ("choice", "multi"):
        n = len(d.flow.choice_sets[node.choices])
        ranged = node.choices in d.flow.ranges
        # at a range question every number >= 0 is a quantity: a negative one is none; elsewhere
        # "7" is no position among 5 options: numbers beyond the options
        bad_number = -draw(st.integers(1, 99)) if ranged else draw(st.integers(n + 1, 99))
        options += [
            ("text", str(bad_number)),
            ("text", draw(EMOJI_OR_PUNCT)),
            ("tap", (node.id, draw(st.sampled_from(["nope", "", "1", "bekerja_x"])))),
        ]
        if not ranged:
            options.append(("text", "0"))
        if node.choices == "income":
            options += [("text", "UMR"), ("text", draw(st.integers(10, 99)).__str__())]
        if node.choices == "workers":
            options.append(("text", "2,5 orang"))
    if node.type == "month":
        options += [
            ("text", draw(st.sampled_from(["13/2025", "12/2025", "01/2026", "Juli", "2025"]))),
            ("text", draw(EMOJI_OR_PUNCT)),
            ("text", "06/2023"),  # before graduation year - 1 for a 2025 graduate
        ]
    if node.type == "text":
        options.append(("text", draw(st.sampled_from(["", "   ", "\n", "x" * 201]))))
    if node.required:
        options.append(("text", draw(st.sampled_from(["lewati", "LEWATI", "skip"]))))
    stale_q = draw(ANY_QUESTION.filter(lambda q: q != node.id))
    options += [
        ("media", None),
        ("tap", (stale_q, draw(st.sampled_from(["bekerja", "setuju", "ya", "1", "_done"])))),
    ]
    return draw(st.sampled_from(options))


def send(d: Driver, how: str, value: Any):
    if how == "text":
        return d.text(value)
    if how == "tap":
        return d.tap(*value)
    if how == "media":
        return d.media()
    if how == "start":
        return d.start(value)
    if how == "action":
        return d.action(value)
    raise AssertionError(how)


def checked_send(d: Driver, how: str, value: Any):
    """Send, checking the step did not touch the state it was given and replied at all."""
    given_state = d.state
    snapshot = copy.deepcopy(given_state)
    out = send(d, how, value)
    assert given_state == snapshot, "the engine changed the state it was given"
    # DATA may be answered by the shell alone (it renders ShowData as the reply)
    assert out.replies or out.of(ShowData), (how, value, d.state)
    return out


def assert_valid_value(d: Driver, node: Node, value: Any) -> None:
    if node.type == "choice":
        assert value in d.flow.choice_sets[node.choices], (node.id, value)
    elif node.type == "multi":
        codes = list(d.flow.choice_sets[node.choices])
        assert value and all(v in codes for v in value), (node.id, value)
        assert value == sorted(set(value), key=codes.index)
    elif node.type == "text":
        assert isinstance(value, str) and value == clean_text(value) and value, (node.id, value)
    else:
        m = MONTH_RE.fullmatch(value)
        assert m, (node.id, value)
        year, month = int(m.group(2)), int(m.group(1))
        assert (year, month) <= NOW_MONTH
        grad = (d.state.get("alumnus") or {}).get("year")
        assert year >= grad - 1


def check_progress(d: Driver, before: dict[str, Any], node: Node, how: str, value: Any) -> None:
    """After any input at question `node`: either still there, or a valid move."""
    moved = d.stage != "q" or d.node != node.id
    answers_before = before.get("answers") or {}
    if not moved:
        assert d.answers == answers_before
        return
    history = before.get("history") or []
    if how == "text" and engine.keyword(value)[0] == "back":
        assert history and d.node == history[-1]
        assert d.state["history"] == history[:-1]
        return
    if how == "text" and engine.keyword(value)[0] == "ubah":
        assert d.node == d.flow.start and d.answers == {}
        return
    # answered: the value is valid, the earlier answers are kept, the successor is next
    assert d.state["history"] == [*history, node.id]
    if node.field in d.answers:
        assert_valid_value(d, node, d.answers[node.field])
    else:
        assert not node.required, f"required {node.id} left without an answer"
    for field, old in answers_before.items():
        if field != node.field:
            assert d.answers.get(field) == old
    nxt = node.successor(d.answers.get(node.field))
    assert (d.stage == "done") if nxt == END else (d.node == nxt)
    if how == "text" and node.type == "text" and engine.keyword(value)[0] is None:
        assert d.answers[node.field] == clean_text(value)


def noise_strategy(d: Driver) -> st.SearchStrategy[tuple[str, str, Any]]:
    """("invalid" | "any" | "back" | "keyword", how, value)."""
    return st.one_of(
        surely_invalid(d).map(lambda hv: ("invalid", *hv)),
        RANDOM_TEXT.map(lambda t: ("any", "text", t)),
        st.tuples(ANY_QUESTION, st.text(max_size=12)).map(lambda qv: ("any", "tap", qv)),
        st.sampled_from(["kembali", "KEMBALI", "back"]).map(lambda t: ("back", "text", t)),
        KEYWORDS_NO_MOVE.map(lambda t: ("keyword", "text", t)),
        st.sampled_from(["/bahasa en", "/bahasa id", "BAHASA"]).map(
            lambda t: ("keyword", "text", t)
        ),
        st.just(("hapus_cancel", "text", "HAPUS")),
        st.just(("keyword", "text", "/ubah")),
    )


def play(d: Driver, data: st.DataObject, status: str, max_noise: int = 25) -> list[Any]:
    """Answer the questionnaire from B1 to the end, with noise between the answers."""
    effects: list[Any] = []
    noise_left = data.draw(st.integers(0, max_noise), label="noise budget")
    for _ in range(200):
        if d.stage == "done":
            break
        node = current(d)
        before = copy.deepcopy(d.state)
        if noise_left > 0 and data.draw(st.booleans(), label="noise?"):
            noise_left -= 1
            kind, how, value = data.draw(noise_strategy(d), label="noise")
            out = checked_send(d, how, value)
            effects += out.effects
            if kind == "hapus_cancel":
                assert d.stage == "confirm_delete"
                out = checked_send(d, "text", "tidak")
                effects += out.effects
                assert d.state["stage"] == "q" and d.node == node.id
                assert d.answers == (before.get("answers") or {})
                continue
            if kind == "invalid":
                assert d.stage == "q" and d.node == node.id, (how, value)
                assert d.answers == (before.get("answers") or {}), (how, value)
                last = out.replies[-1]
                assert last.question == node.id  # the same question again
                assert last.text != d.prompt().text, "no explanation"
            elif kind == "keyword" and value != "/ubah":
                assert d.node == node.id and d.answers == (before.get("answers") or {})
                if engine.keyword(value)[0] in ("help", "language", "start", "data"):
                    assert out.replies[-1].question == node.id  # the question again
            check_progress(d, before, node, how, value)
        else:
            for how, value in data.draw(valid_answer(d, status), label="answer"):
                step_node = current(d)
                step_before = copy.deepcopy(d.state)
                out = checked_send(d, how, value)
                effects += out.effects
                check_progress(d, step_before, step_node, how, value)
            assert d.stage == "done" or d.node != node.id, (node.id, d.state)
    assert d.stage == "done", d.state
    return effects


@pytest.mark.parametrize("status", list(BRANCH_WALKS))
@SETTINGS
@given(data=st.data())
def test_every_branch_reaches_done_through_noise(status, data):
    person = data.draw(st.sampled_from([ADI, BUNGA]), label="person")
    d = Driver()
    d.onboard(person, vacancies=data.draw(st.sampled_from(["ya", "tidak"])))
    effects = play(d, data, status)
    final_status = d.answers["status"]  # random text could have picked another status
    missing = required_fields(d.flow, final_status) - set(d.answers)
    assert not missing, (final_status, d.answers)
    # nothing outside the branch's path is kept
    path_fields = {d.flow.node(n).field for n in d.state["history"]}
    assert set(d.answers) <= path_fields
    completes = [e for e in effects if isinstance(e, Complete)]
    assert completes == [Complete(final_status)]
    assert not [e for e in effects if isinstance(e, Link | Refused | DeleteData)]
    # a second pass after UBAH completes once more, again with all required answers
    out = checked_send(d, "text", "UBAH")
    assert [e for e in out.effects if isinstance(e, BeginResponse)] == [BeginResponse()]
    effects = play(d, data, status, max_noise=5)
    assert [e for e in effects if isinstance(e, Complete)] == [Complete(d.answers["status"])]
    assert required_fields(d.flow, d.answers["status"]) <= set(d.answers)


# ---- anything, from the very first message ----
ANY_INPUT = st.one_of(
    RANDOM_TEXT.map(lambda t: ("text", t)),
    st.sampled_from(
        [
            "setuju",
            "tidak",
            "ya",
            "bukan",
            "kembali",
            "lewati",
            "HAPUS",
            "UBAH",
            "DATA",
            "STOP",
            "MULAI",
            "BAHASA",
            "/bahasa en",
            "selesai",
            "1",
            "2",
            "6",
            "0",
            ADI.nisn,
            LINA.nisn,
            "71234501",
            "14-03-2007",
            "28/06/2005",
            "02-11-2007",
            "01-01-2001",
            ADI.code,
            "07/2025",
            "1,3",
        ]
    ).map(lambda t: ("text", t)),
    st.tuples(
        ANY_QUESTION, st.sampled_from(["setuju", "ya", "bukan", "tidak", "bekerja", "1_4"])
    ).map(lambda qv: ("tap", qv)),
    st.just(("media", None)),
    st.sampled_from(["interest:12", "", "q:B1:bekerja"]).map(lambda v: ("action", v)),
    st.sampled_from([None, ADI.code, LINA.code, "BADC0DE22", "x"]).map(lambda c: ("start", c)),
)


@SETTINGS
@given(
    inputs=st.lists(ANY_INPUT, min_size=1, max_size=40),
    channel=st.sampled_from(
        [("telegram", "5001"), ("whatsapp", BUNGA.phone), ("whatsapp", "628000")]
    ),
    lang=st.sampled_from(["id", "en"]),
)
def test_any_input_sequence_never_raises_and_always_replies(inputs, channel, lang):
    d = Driver(channel=channel[0], address=channel[1], state=engine.initial_state(lang))
    d.ctx = engine.Context(now=d.ctx.now, school="SMK Contoh", max_failures=3)
    for how, value in inputs:
        before = copy.deepcopy(d.state)
        out = checked_send(d, how, value)
        stage = d.stage
        assert stage in {
            "new",
            "consent",
            "refused",
            "deleted",
            "ask_id",
            "ask_dob",
            "verify_dob",
            "confirm",
            "vacancies",
            "q",
            "done",
            "confirm_delete",
        }
        # a link only ever follows consent, and answers only follow a link
        if any(isinstance(e, Link) for e in out.effects):
            assert before.get("consent_at") or before.get("stage") == "consent"
        if d.answers:
            assert d.state.get("alumnus")
        if stage == "q":
            assert d.node in d.flow.nodes
            assert d.prompt().question == d.node
        if how == "media" and before.get("stage") not in (None, "new"):
            assert {k: v for k, v in d.state.items()} == before


@SETTINGS
@given(text=st.text(alphabet=string.printable + "ÀéñÜ–—“”👍", max_size=60))
def test_typed_text_at_any_question_is_safe(text):
    """Any typed text at any question: no exception, JSON state, at least one reply."""
    for node_id in ("B1", "C3", "C5", "C7", "G1", "G2", "D3", "Z1"):
        d = Driver()
        d.onboard()
        d.state = {**d.state, "node": node_id, "history": ["B1"] if node_id != "B1" else []}
        if node_id != "B1":
            d.state["answers"] = {"status": "bekerja"}
        before = copy.deepcopy(d.state)
        node = d.flow.node(node_id)
        checked_send(d, "text", text)
        if engine.keyword(text)[0] is not None:
            continue  # commands are tested elsewhere
        if d.stage == "q" and d.node == node_id:
            assert d.answers == before["answers"]
            continue
        assert d.state["history"] == [*before["history"], node_id]
        if node.field in d.answers:
            assert_valid_value(d, node, d.answers[node.field])
        else:
            assert not node.required


def test_the_property_tests_send_every_kind_of_input():
    sent = {"text", "tap", "media", "start", "action"}
    assert {InputKind(k) for k in ("text", "choice", "media", "start", "action")} == set(InputKind)
    assert len(sent) == len(InputKind)
