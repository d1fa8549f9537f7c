"""Every prompt of the shipped questionnaire, rendered for WhatsApp, fits WhatsApp's limits.

The prompts come from the real engine (`engine.current_prompt` for every stage and node, and
`engine.step` for the prompts that carry a prefix: help, media, stale buttons, invalid answers,
multi-select progress), in Indonesian and English, with long names to stress the limits. Each
rendered body must pass `whatsapp_render.limit_violations` and the fake Graph API's Meta-like
validation; button and row ids must decode back to the question and a valid code; and a label
shortened for a button or row title must still be shown whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import pytest

from bot.channels.reply_ids import decode_reply_id
from bot.channels.whatsapp import LIST_BUTTON_KEY
from bot.channels.whatsapp_render import (
    BUTTON_TITLE_MAX,
    ROW_DESCRIPTION_MAX,
    ROW_TITLE_MAX,
    limit_violations,
    one_line,
    render,
    wa_len,
)
from conversations import engine
from conversations.engine import Context
from conversations.questionnaire import default_flow
from conversations.types import Inbound, InputKind, Option, Reply
from tests.fakes.graph_api import validate_message

TO = "6281234567801"
LANGS = ("id", "en")
FLOW = default_flow()
CAT = FLOW.catalogue
LONG_SCHOOL = "SMK Negeri 1 Pembangunan Teknologi dan Rekayasa Kabupaten Kepulauan Seribu Utara"
CTX = Context(
    now=datetime(2025, 11, 20, 3, 0, tzinfo=UTC),
    school=LONG_SCHOOL,
    retention={"id": "5 tahun setelah kelulusan", "en": "5 years after graduation"},
)
CANDIDATE = {
    "id": 1,
    "name": "Muhammad Rizky Ananda Pratama Putra Wijayakusuma",
    "kelas": "XII Teknik Komputer dan Jaringan 2",
    "year": 2025,
}


def list_button(lang: str) -> str:
    return CAT.t(LIST_BUTTON_KEY, lang)


def state(lang: str, stage: str, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "stage": stage, "lang": lang, "alumnus": CANDIDATE, **extra}


def q_state(lang: str, node: str, *, history: int = 0, multi: list[str] | None = None) -> dict:
    return state(
        lang,
        "q",
        node=node,
        history=["B1"] * history,
        answers={"status": "bekerja"},
        multi=multi or [],
    )


def onboarding_states(lang: str) -> list[dict[str, Any]]:
    return [
        state(lang, stage, candidate=CANDIDATE)
        for stage in (
            "new",
            "consent",
            "ask_id",
            "ask_dob",
            "verify_dob",
            "confirm",
            "vacancies",
            "done",
            "confirm_delete",
            "deleted",
            "refused",
        )
    ]


def question_states(lang: str) -> list[dict[str, Any]]:
    out = []
    for node in FLOW.nodes.values():
        out.append(q_state(lang, node.id))
        out.append(q_state(lang, node.id, history=1))  # with the "how to go back" hint
        if node.type == "multi":
            codes = list(FLOW.choice_sets[node.choices])
            for n in (1, 2, len(codes)):
                for picked in list(combinations(codes, n))[:4]:
                    out.append(q_state(lang, node.id, history=1, multi=list(picked)))
    return out


def inputs_for(st: dict[str, Any]) -> list[Inbound]:
    """Inputs that make the engine answer with a prefixed prompt in this state."""
    question = st.get("node") or "A1"
    base = {"channel": "whatsapp", "address": TO}
    return [
        Inbound(kind=InputKind.MEDIA, value="image", **base),
        Inbound(kind=InputKind.CHOICE, question="ZZ", value="x", **base),  # stale button
        Inbound(kind=InputKind.CHOICE, question=question, value="no_such_code", **base),
        Inbound(kind=InputKind.TEXT, text="zzzz qqqq", **base),
        Inbound(kind=InputKind.TEXT, text="belum", **base),  # ambiguous for status
        Inbound(kind=InputKind.TEXT, text="BANTUAN", **base),
        Inbound(kind=InputKind.TEXT, text="lewati", **base),
        Inbound(kind=InputKind.TEXT, text="kembali", **base),
        Inbound(kind=InputKind.TEXT, text="13/2025", **base),
        Inbound(kind=InputKind.TEXT, text="UBAH", **base),
        Inbound(kind=InputKind.TEXT, text="HAPUS", **base),
        Inbound(kind=InputKind.START, **base),
    ]


def all_replies(lang: str) -> list[Reply]:
    replies = []
    for st in onboarding_states(lang) + question_states(lang):
        replies.append(engine.current_prompt(FLOW, st, CTX))
        for inbound in inputs_for(st):
            result = engine.step(FLOW, st, inbound, CTX)
            replies.extend(result.replies)
    return replies


REPLIES = {lang: all_replies(lang) for lang in LANGS}


def check_payloads(reply: Reply, lang: str) -> list[dict[str, Any]]:
    payloads = render(TO, reply, list_button=list_button(lang))
    assert payloads, reply
    for payload in payloads:
        assert limit_violations(payload) == [], (reply.question, payload)
        validate_message(payload)  # raises where Meta would answer 400
    return payloads


def body_text(payload: dict[str, Any]) -> str:
    if payload["type"] == "text":
        return payload["text"]["body"]
    return payload["interactive"]["body"]["text"]


@pytest.mark.parametrize("lang", LANGS)
def test_every_prompt_fits_whatsapp(lang):
    replies = REPLIES[lang]
    questions = {r.question for r in replies if r.question}
    # every node and every built-in choice was rendered, in this language
    assert set(FLOW.nodes) | {"A1", "A2", "A3"} <= questions
    assert any(r.multi and "_done" in {o.code for o in r.options} for r in replies)
    kinds = set()
    for reply in replies:
        payloads = check_payloads(reply, lang)
        last = payloads[-1]
        kinds.add(last["type"] if last["type"] != "interactive" else last["interactive"]["type"])
        everything = "\n".join(body_text(p) for p in payloads)
        assert reply.text.split("\n")[0][:200] in everything or wa_len(reply.text) > 1024
        if last["type"] == "interactive":
            check_interactive(reply, last, lang)
        else:
            # numbered text (multi-select, > 10 options): every label in full
            for option in reply.options:
                assert option.label in everything, option
    assert kinds == {"text", "button", "list"}


def check_interactive(reply: Reply, payload: dict[str, Any], lang: str) -> None:
    inter = payload["interactive"]
    codes = {o.code for o in reply.options}
    body = inter["body"]["text"]
    if inter["type"] == "button":
        entries = [
            (b["reply"]["id"], b["reply"]["title"], None) for b in inter["action"]["buttons"]
        ]
    else:
        assert inter["action"]["button"] == list_button(lang)
        entries = [
            (row["id"], row["title"], row.get("description"))
            for section in inter["action"]["sections"]
            for row in section["rows"]
        ]
    assert len(entries) == len(reply.options)
    for (rid, title, description), option in zip(entries, reply.options, strict=True):
        decoded = decode_reply_id(rid)
        assert decoded is not None and decoded.kind == InputKind.CHOICE
        assert decoded.question == reply.question and decoded.value == option.code
        assert decoded.value in codes
        label = one_line(option.label)
        # a label shortened for the title is still shown whole: in the body or the row
        # description (when it fits a description)
        if title != label:
            assert label in body or (
                description == label and wa_len(label) <= ROW_DESCRIPTION_MAX
            ), (title, label, body)


def test_list_button_label_comes_from_the_catalogue():
    assert CAT.t(LIST_BUTTON_KEY, "id") == "Pilih"
    assert CAT.t(LIST_BUTTON_KEY, "en") == "Choose"
    status = engine.current_prompt(FLOW, q_state("en", "B1"), CTX)
    [payload] = render(TO, status, list_button=list_button("en"))
    assert payload["interactive"]["action"]["button"] == "Choose"


def test_long_labels_are_shortened_on_buttons_and_kept_whole_in_the_body():
    long_labels = (
        Option("a", "Bekerja di perusahaan swasta besar", "Swasta besar"),
        Option("b", "Bekerja di instansi pemerintah daerah", ""),  # no short title
        Option("c", "Bekerja di luar negeri melalui P3MI resmi", "Luar negeri"),
    )
    reply = Reply("Di mana Anda bekerja?", question="X1", options=long_labels)
    [payload] = check_payloads(reply, "id")
    inter = payload["interactive"]
    titles = [b["reply"]["title"] for b in inter["action"]["buttons"]]
    assert titles[0] == "Swasta besar" and titles[2] == "Luar negeri"
    assert wa_len(titles[1]) <= BUTTON_TITLE_MAX and titles[1].endswith("…")
    for option in long_labels:
        assert option.label in inter["body"]["text"]

    rows = tuple(
        Option(f"r{i}", f"Pilihan nomor {i} yang labelnya sangat panjang sekali", f"Pilihan {i}")
        for i in range(1, 7)
    )
    [payload] = check_payloads(Reply("Pilih satu:", question="X2", options=rows), "en")
    listed = payload["interactive"]["action"]["sections"][0]["rows"]
    assert [row["title"] for row in listed] == [f"Pilihan {i}" for i in range(1, 7)]
    assert all(wa_len(row["title"]) <= ROW_TITLE_MAX for row in listed)
    assert [row["description"] for row in listed] == [o.label for o in rows]
    assert payload["interactive"]["action"]["button"] == "Choose"
