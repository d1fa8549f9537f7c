"""WhatsApp webhook parsing: the fixture catalogue (one real-shaped payload per type Meta
documents), reply ids, signatures, and random bodies that must never raise anything but
MalformedWebhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.whatsapp_events import (
    MalformedWebhook,
    action_reply_id,
    choice_reply_id,
    decode_reply_id,
    parse_webhook,
    sign,
    verify_signature,
)
from conversations.types import InputKind

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
USER = "6281234567890"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


# fixture -> (kind, text, question, value) of the single Inbound it must produce
MESSAGE_FIXTURES = {
    "text": (InputKind.TEXT, "Halo, saya mau isi data", None, None),
    "text_reply_with_context": (InputKind.TEXT, "2", None, None),
    "referral_text": (InputKind.TEXT, "Info lowongan?", None, None),
    "interactive_button_reply": (InputKind.CHOICE, "Bekerja", "status", "bekerja"),
    "interactive_list_reply": (InputKind.CHOICE, "Mencari kerja", "status", "mencari_kerja"),
    "interactive_action_reply": (InputKind.ACTION, "Saya tertarik", None, "interest:12"),
    "interactive_foreign_id": (InputKind.TEXT, "Batal", None, None),
    "template_button": (InputKind.ACTION, "Saya tertarik", None, "interest:12"),
    "template_button_choice": (InputKind.CHOICE, "Ya", "consent_vacancies", "ya"),
    "template_button_static": (InputKind.TEXT, "Berhenti", None, None),
    "image": (InputKind.MEDIA, "Ijazah saya", None, "image"),
    "audio": (InputKind.MEDIA, "", None, "audio"),
    "video": (InputKind.MEDIA, "Tempat kerja", None, "video"),
    "document": (InputKind.MEDIA, "CV terbaru", None, "document"),
    "location": (InputKind.MEDIA, "", None, "location"),
    "contacts": (InputKind.MEDIA, "", None, "contacts"),
    "sticker": (InputKind.MEDIA, "", None, "sticker"),
    "unsupported": (InputKind.MEDIA, "", None, "unsupported"),
    "order": (InputKind.MEDIA, "", None, "order"),
}

# fixture -> a word the ignore reason must contain
IGNORED_FIXTURES = {
    "reaction": "reaction",
    "reaction_removed": "reaction",
    "system": "user_changed_number",
    "request_welcome": "welcome",
    "interactive_nfm_reply": "nfm_reply",
}

STATUS_FIXTURES = {
    "status_sent": ("sent", None),
    "status_delivered": ("delivered", None),
    "status_read": ("read", None),
    "status_failed": ("failed", 131047),
    "status_failed_undeliverable": ("failed", 131026),
}


def test_every_fixture_is_covered_by_an_expectation():
    names = {p.stem for p in FIXTURES.glob("*.json")}
    covered = (
        set(MESSAGE_FIXTURES)
        | set(IGNORED_FIXTURES)
        | set(STATUS_FIXTURES)
        | {"batch", "future_fields", "value_errors", "bsuid_sender"}
    )
    assert names == covered


@pytest.mark.parametrize("name", sorted(MESSAGE_FIXTURES))
def test_message_fixture_becomes_one_inbound(name):
    kind, text, question, value = MESSAGE_FIXTURES[name]
    parsed = parse_webhook(load(name))
    assert parsed.ignored == [] and parsed.statuses == []
    [inbound] = parsed.messages
    assert inbound.channel == "whatsapp"
    assert inbound.address == USER
    assert inbound.display_name == "Siti Rahma"
    assert inbound.external_id and inbound.external_id.startswith("wamid.")
    assert (inbound.kind, inbound.text, inbound.question, inbound.value) == (
        kind,
        text,
        question,
        value,
    )
    assert parsed.timestamps[inbound.external_id] == datetime(2026, 1, 1, tzinfo=UTC)


def test_taps_carry_the_id_of_the_tapped_message():
    [tap] = parse_webhook(load("interactive_button_reply")).messages
    assert tap.message_ref == "wamid.HBgNNjI4MTEwMDAwMDAwMBUCABEYEjQyQkFFRjNDMEQ5NkI0QjNGMwA="
    [plain] = parse_webhook(load("text")).messages
    assert plain.message_ref is None


@pytest.mark.parametrize("name", sorted(IGNORED_FIXTURES))
def test_ignored_fixture_yields_no_event_and_a_reason(name):
    parsed = parse_webhook(load(name))
    assert parsed.messages == [] and parsed.statuses == []
    [ignored] = parsed.ignored
    assert IGNORED_FIXTURES[name] in ignored.reason
    assert ignored.external_id and ignored.external_id.startswith("wamid.")
    # reasons go to logs: never the sender's number
    assert USER not in ignored.reason


@pytest.mark.parametrize("name", sorted(STATUS_FIXTURES))
def test_status_fixture(name):
    state, code = STATUS_FIXTURES[name]
    parsed = parse_webhook(load(name))
    assert parsed.messages == [] and parsed.ignored == []
    [status] = parsed.statuses
    assert status.status == state
    assert status.wamid.startswith("wamid.OUT")
    assert status.recipient == USER
    assert status.timestamp == datetime(2026, 1, 1, 0, 1, 40, tzinfo=UTC)
    assert status.error_code == code
    if code is None:
        assert status.error_title is None
    else:
        assert status.error_title and status.error_details


def test_value_level_errors_are_reported():
    parsed = parse_webhook(load("value_errors"))
    assert parsed.messages == [] and parsed.statuses == []
    [error] = parsed.errors
    assert (error.code, error.title) == (130429, "Rate limit hit")


def test_several_entries_changes_and_messages_in_one_post():
    parsed = parse_webhook(load("batch"))
    assert [(m.external_id, m.address, m.display_name, m.kind) for m in parsed.messages] == [
        ("wamid.BATCH01", USER, "Siti Rahma", InputKind.TEXT),
        ("wamid.BATCH02", "6285700001111", "Agus Pratama", InputKind.CHOICE),
        ("wamid.BATCH04", "6289900002222", "Dewi", InputKind.TEXT),
    ]
    assert parsed.messages[1].question == "employer_type"
    assert parsed.messages[1].value == "swasta"
    assert [(s.wamid, s.status) for s in parsed.statuses] == [
        ("wamid.OUT10", "delivered"),
        ("wamid.OUT11", "read"),
    ]
    assert [i.external_id for i in parsed.ignored] == ["wamid.BATCH03"]


def test_unknown_fields_types_and_changes_do_not_break_parsing():
    parsed = parse_webhook(load("future_fields"))
    [message] = parsed.messages
    assert (message.kind, message.text) == (InputKind.TEXT, "halo")
    # an unknown status value is passed through for the caller to ignore
    assert [(s.wamid, s.status) for s in parsed.statuses] == [("wamid.OUT20", "deleted")]
    reasons = sorted(i.reason for i in parsed.ignored)
    assert any("'poll'" in r for r in reasons)
    assert any("message_template_status_update" in r for r in reasons)


def test_a_sender_without_a_phone_number_is_addressed_by_bsuid():
    [message] = parse_webhook(load("bsuid_sender")).messages
    assert message.address == "ID.13491208655302741918"
    assert message.display_name == "Rina"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "x",
        42,
        {},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {}},
        {"object": 5, "entry": []},
        {"object": "whatsapp_business_account", "entry": ["x"]},
        {"object": "whatsapp_business_account", "entry": [{"changes": {}}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [1]}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": []}]}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "messages", "value": {"messages": {}}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "messages", "value": {"messages": ["hi"]}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "messages", "value": {"statuses": [None]}}]}],
        },
    ],
)
def test_structural_garbage_is_malformed(body):
    with pytest.raises(MalformedWebhook):
        parse_webhook(body)


def test_empty_entry_list_is_valid_and_empty():
    parsed = parse_webhook({"object": "whatsapp_business_account", "entry": []})
    assert (parsed.messages, parsed.statuses, parsed.ignored) == ([], [], [])


def test_other_objects_are_ignored_not_rejected():
    parsed = parse_webhook({"object": "page", "entry": [{"changes": []}]})
    assert parsed.messages == [] and "page" in parsed.ignored[0].reason


def test_bad_message_content_is_ignored_and_the_rest_still_counts():
    body = load("text")
    messages = body["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(0, {"from": USER, "id": "wamid.BAD", "type": "text", "text": "not an object"})
    messages.insert(0, {"from": USER, "type": "text", "text": {"body": "no id"}})
    messages.insert(0, {"id": "wamid.NOFROM", "type": "text", "text": {"body": "no sender"}})
    parsed = parse_webhook(body)
    assert [m.text for m in parsed.messages] == ["Halo, saya mau isi data"]
    assert len(parsed.ignored) == 3


# --- reply ids ---


def test_reply_ids_round_trip():
    rid = choice_reply_id("employer_type", "bumn_bumd")
    assert rid == "q:employer_type:bumn_bumd"
    decoded = decode_reply_id(rid)
    assert (decoded.kind, decoded.question, decoded.value) == (
        InputKind.CHOICE,
        "employer_type",
        "bumn_bumd",
    )
    assert action_reply_id("interest:12") == "a:interest:12"
    decoded = decode_reply_id("a:interest:12")
    assert (decoded.kind, decoded.value) == (InputKind.ACTION, "interest:12")
    assert decoded.question is None
    # a code may contain ":"; the question may not
    assert decode_reply_id(choice_reply_id("q1", "a:b")).value == "a:b"
    with pytest.raises(ValueError):
        choice_reply_id("bad:question", "x")
    for foreign in ("cancel-button", "q:", "q:status", "q:status:", "q::x", "a:", "", None, 5):
        assert decode_reply_id(foreign) is None


@given(st.from_regex(r"[a-z0-9_]{1,30}", fullmatch=True), st.text(min_size=1, max_size=50))
def test_reply_ids_round_trip_property(question, code):
    decoded = decode_reply_id(choice_reply_id(question, code))
    assert (decoded.question, decoded.value) == (question, code)


# --- signatures ---


def test_signature_accepts_exactly_the_signed_body():
    raw = json.dumps(load("text")).encode()
    header = sign(raw, "s3cret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(raw, header, "s3cret")
    assert verify_signature(raw, header.upper().replace("SHA256=", "sha256="), "s3cret")
    assert not verify_signature(raw + b" ", header, "s3cret")
    assert not verify_signature(raw, header, "other")
    assert not verify_signature(raw, None, "s3cret")
    assert not verify_signature(raw, "", "s3cret")
    assert not verify_signature(raw, header[7:], "s3cret")  # no "sha256=" prefix
    assert not verify_signature(raw, "sha1=" + header[7:], "s3cret")
    assert not verify_signature(raw, "sha256=zz", "s3cret")
    assert not verify_signature(raw, sign(raw, ""), "")  # no secret configured: never valid


# --- robustness ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
keys = st.sampled_from(
    [
        "object",
        "entry",
        "changes",
        "field",
        "value",
        "messages",
        "statuses",
        "contacts",
        "errors",
        "id",
        "from",
        "type",
        "text",
        "body",
        "interactive",
        "button_reply",
        "list_reply",
        "button",
        "payload",
        "title",
        "status",
        "timestamp",
        "context",
        "profile",
        "name",
        "wa_id",
        "code",
        "system",
    ]
)
# JSON built from the keys a webhook uses, so that the parser's deeper paths are reached
webhookish = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(
        ["whatsapp_business_account", "messages", "text", "interactive", "button_reply"]
        + ["list_reply", "button", "q:status:bekerja", "a:x", "failed", "image", "system"]
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, webhookish))
def test_random_json_raises_nothing_but_malformed(body):
    try:
        parsed = parse_webhook(body)
    except MalformedWebhook:
        return
    for inbound in parsed.messages:
        assert inbound.address and inbound.external_id


MESSAGE_KEYS = ["type", "text", "interactive", "button", "context", "timestamp", "image", "system"]
# a message with an id and a sender, and random content under the keys a message uses
message_like = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=5), "from": st.sampled_from([USER, "ID.1"])},
    optional={key: webhookish for key in MESSAGE_KEYS}
    | {"type": st.sampled_from(["text", "interactive", "button", "image", "system", "x"])},
)
status_like = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=5), "status": st.sampled_from(["sent", "failed"])},
    optional={"errors": webhookish, "timestamp": webhookish, "recipient_id": webhookish},
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(message_like, webhookish), max_size=3),
    st.lists(st.one_of(status_like, webhookish), max_size=3),
)
def test_random_messages_in_a_valid_envelope_never_raise_anything_else(messages, statuses):
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": {"messages": messages}}]}],
    }
    body["entry"][0]["changes"][0]["value"]["statuses"] = statuses
    try:
        parsed = parse_webhook(body)
    except MalformedWebhook:
        return
    assert all(m.external_id and m.address for m in parsed.messages)
    assert all(s.wamid and s.status for s in parsed.statuses)
