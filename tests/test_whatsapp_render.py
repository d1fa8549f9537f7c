"""WhatsApp rendering: every payload within WhatsApp's limits, ids the parser decodes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.base import Template
from bot.channels.whatsapp_events import decode_reply_id
from bot.channels.whatsapp_render import (
    fit,
    limit_violations,
    render,
    render_document,
    render_image,
    render_template,
    render_text,
    split_text,
    unique_titles,
    wa_len,
)
from conversations.types import InputKind, Option, Reply

TO = "6281234567890"

STATUS = (
    Option("bekerja", "Bekerja", "Bekerja"),
    Option("wirausaha", "Wirausaha", "Wirausaha"),
    Option("melanjutkan", "Kuliah / melanjutkan", "Kuliah"),
    Option("kursus", "Kursus / pelatihan", "Kursus"),
    Option("mencari_kerja", "Belum bekerja, sedang mencari", "Mencari kerja"),
    Option("tidak_mencari", "Belum bekerja, tidak mencari", "Tidak mencari"),
)
STATUS_EN = (
    Option("bekerja", "Working", "Working"),
    Option("wirausaha", "Own business", "Own business"),
    Option("melanjutkan", "Studying (college / university)", "Studying"),
    Option("kursus", "Course / training", "Course / training"),
    Option("mencari_kerja", "Not working, looking for work", "Looking for work"),
    Option("tidak_mencari", "Not working, not looking for work", "Not looking"),
)


def assert_fits(payloads):
    assert payloads, "nothing rendered"
    for payload in payloads:
        assert limit_violations(payload) == [], payload


def interactive(payload):
    assert payload["type"] == "interactive"
    return payload["interactive"]


def test_plain_text():
    [payload] = render(TO, Reply("Terima kasih!"))
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"preview_url": False, "body": "Terima kasih!"},
    }


def test_long_text_is_split_at_paragraphs_and_nothing_is_lost():
    paragraphs = [f"Paragraf {i}: " + "kata " * 150 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    payloads = render(TO, Reply(text))
    assert len(payloads) > 1
    assert_fits(payloads)
    bodies = [p["text"]["body"] for p in payloads]
    assert all(b.startswith("Paragraf") for b in bodies)  # cut at paragraph breaks
    assert "".join(bodies).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def test_split_text_never_exceeds_the_limit_even_without_spaces():
    text = "x" * 10_000
    chunks = split_text(text, 4096)
    assert [len(c) for c in chunks] == [4096, 4096, 1808]
    emoji = "😀" * 3000  # 2 UTF-16 units each
    chunks = split_text(emoji, 4096)
    assert all(wa_len(c) <= 4096 for c in chunks) and "".join(chunks) == emoji


def test_status_question_as_a_list_keeps_full_labels_in_descriptions():
    [payload] = render(TO, Reply("Apa kegiatan utama kamu sekarang?", "status", STATUS))
    assert_fits([payload])
    content = interactive(payload)
    assert content["type"] == "list"
    assert content["action"]["button"] == "Pilih"
    rows = content["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f"q:status:{o.code}" for o in STATUS]
    by_code = {decode_reply_id(r["id"]).value: r for r in rows}
    assert by_code["kursus"]["title"] == "Kursus / pelatihan"  # fits 24: the label itself
    assert "description" not in by_code["kursus"]
    assert by_code["mencari_kerja"]["title"] == "Mencari kerja"  # 29 chars: the short label
    assert by_code["mencari_kerja"]["description"] == "Belum bekerja, sedang mencari"


def test_list_button_label_is_configurable_and_fitted():
    [payload] = render(
        TO, Reply("Status?", "status", STATUS_EN), list_button="Choose an answer now"
    )
    assert interactive(payload)["action"]["button"] == "Choose an answer now"
    [payload] = render(TO, Reply("Status?", "status", STATUS_EN), list_button="x" * 30)
    assert wa_len(interactive(payload)["action"]["button"]) == 20
    assert_fits([payload])


def test_three_options_become_buttons_with_full_labels_in_the_body():
    reply = Reply("Status kamu?", "status", STATUS[3:])
    [payload] = render(TO, reply)
    assert_fits([payload])
    content = interactive(payload)
    assert content["type"] == "button"
    buttons = [b["reply"] for b in content["action"]["buttons"]]
    assert [b["title"] for b in buttons] == ["Kursus", "Mencari kerja", "Tidak mencari"]
    decoded = [decode_reply_id(b["id"]) for b in buttons]
    assert all(d.kind == InputKind.CHOICE and d.question == "status" for d in decoded)
    assert [d.value for d in decoded] == ["kursus", "mencari_kerja", "tidak_mencari"]
    body = content["body"]["text"]
    assert body.startswith("Status kamu?")
    for label in ("Kursus / pelatihan", "Belum bekerja, sedang mencari"):
        assert label in body


def test_buttons_whose_titles_are_the_labels_do_not_repeat_them():
    yes_no = (Option("ya", "Ya", "Ya"), Option("tidak", "Tidak", "Tidak"))
    [payload] = render(TO, Reply("Boleh kami kirimi info lowongan?", "consent_vacancies", yes_no))
    assert interactive(payload)["body"]["text"] == "Boleh kami kirimi info lowongan?"


def test_over_long_short_labels_are_cut_and_colliding_titles_made_unique():
    options = (
        Option("a", "Belum bekerja, sedang mencari", "Belum bekerja, sedang mencari"),
        Option("b", "Belum bekerja, tidak mencari", "Belum bekerja, tidak mencari"),
        Option("c", "Bekerja", "bekerja"),
    )
    [payload] = render(TO, Reply("Pilih", "status", options))
    assert_fits([payload])
    titles = [b["reply"]["title"] for b in interactive(payload)["action"]["buttons"]]
    assert len({t.casefold() for t in titles}) == 3
    assert titles[2] == "bekerja"
    assert all(wa_len(t) <= 20 for t in titles)


def test_unique_titles():
    assert unique_titles(["Ya", "Tidak"], 20) == ["Ya", "Tidak"]
    assert unique_titles(["Sama", "Lain", "sama"], 20) == ["1. Sama", "Lain", "3. sama"]
    titles = unique_titles(["A" * 30, "A" * 31], 20)
    assert titles[0] != titles[1] and all(wa_len(t) <= 20 for t in titles)
    # numbering the colliders collides with an existing title: everything gets numbered
    assert unique_titles(["X", "1. X", "X"], 20) == ["1. X", "2. 1. X", "3. X"]
    assert unique_titles(["", " "], 20) == ["1", "2"]


def test_more_than_ten_options_become_numbered_text():
    options = tuple(Option(f"c{i}", f"Pilihan nomor {i}", f"P{i}") for i in range(1, 13))
    [payload] = render(TO, Reply("Pilih satu:", "q", options))
    assert payload["type"] == "text"
    body = payload["text"]["body"]
    assert body.startswith("Pilih satu:\n\n1. Pilihan nomor 1\n2. Pilihan nomor 2")
    assert "12. Pilihan nomor 12" in body


def test_unnumbered_options_become_bullets_where_text_lists_them():
    """A range question's options (a typed number is a quantity there) carry no numbers."""
    options = tuple(Option(f"c{i}", f"{i}–{i + 1} juta", f"{i}–{i + 1} juta") for i in range(12))
    [payload] = render(TO, Reply("Berapa?", "q", options, numbered=False))
    body = payload["text"]["body"]
    assert body.startswith("Berapa?\n\n• 0–1 juta\n• 1–2 juta") and "1. " not in body
    long = (Option("a", "Lebih dari dua belas bulan lamanya", "> 12 bulan"),) + options[:1]
    [payload] = render(TO, Reply("Berapa?", "q", long, numbered=False))
    body = payload["interactive"]["body"]["text"]  # reply buttons: full labels in the body
    assert "• Lebih dari dua belas bulan lamanya" in body and "1. " not in body


def test_multi_select_is_numbered_text_with_the_instruction_from_the_reply():
    obstacles = (
        Option("sedikit_lowongan", "Lowongan sedikit", "Lowongan sedikit"),
        Option("syarat_tidak_terpenuhi", "Syarat tidak terpenuhi", "Syarat"),
        Option("biaya", "Biaya", "Biaya"),
    )
    text = "Apa kendalamu? Ketik nomornya, boleh lebih dari satu (mis. 1,3)."
    [payload] = render(TO, Reply(text, "obstacles", obstacles, multi=True))
    assert payload["type"] == "text"
    assert payload["text"]["body"] == (
        f"{text}\n\n1. Lowongan sedikit\n2. Syarat tidak terpenuhi\n3. Biaya"
    )


def test_action_button():
    reply = Reply(
        "Lowongan: Operator produksi, PT Maju",
        action="interest:12",
        options=(Option("x", "Saya tertarik", "Saya tertarik"),),
    )
    [payload] = render(TO, reply)
    [button] = interactive(payload)["action"]["buttons"]
    assert button["reply"] == {"id": "a:interest:12", "title": "Saya tertarik"}
    decoded = decode_reply_id(button["reply"]["id"])
    assert (decoded.kind, decoded.value) == (InputKind.ACTION, "interest:12")
    # without an option the button still has a title
    [payload] = render(TO, Reply("Lowongan baru", action="interest:13"))
    [button] = interactive(payload)["action"]["buttons"]
    assert button["reply"] == {"id": "a:interest:13", "title": "OK"}


def test_action_with_several_options_encodes_each_code():
    options = (Option("ya", "Ya", "Ya"), Option("tidak", "Tidak", "Tidak"))
    [payload] = render(TO, Reply("Hadir?", action="event:3", options=options))
    ids = [b["reply"]["id"] for b in interactive(payload)["action"]["buttons"]]
    assert ids == ["a:event:3:ya", "a:event:3:tidak"]


def test_a_body_too_long_for_buttons_is_sent_first_as_text():
    text = ("Penjelasan panjang tentang data pribadi. " * 40).strip()  # ~1600 chars
    reply = Reply(text + "\n\nSetuju?", "consent_tracer", STATUS[:2])
    payloads = render(TO, reply)
    assert_fits(payloads)
    assert [p["type"] for p in payloads] == ["text", "interactive"]
    assert interactive(payloads[-1])["body"]["text"].endswith("Setuju?")


def test_bsuid_recipients_use_the_recipient_field():
    [payload] = render("ID.13491208655302741918", Reply("Halo"))
    assert payload["recipient"] == "ID.13491208655302741918" and "to" not in payload


def test_template():
    template = Template(
        name="jejak_pengingat",
        language="id",
        parameters=("Siti\nRahma", "SMK   Contoh     Satu"),
        button_payloads=("a:resume", "a:stop"),
    )
    payload = render_template(TO, template)
    assert limit_violations(payload) == []
    assert payload["type"] == "template"
    content = payload["template"]
    assert content["name"] == "jejak_pengingat"
    assert content["language"] == {"code": "id"}
    body, first, second = content["components"]
    assert body == {
        "type": "body",
        "parameters": [
            {"type": "text", "text": "Siti Rahma"},
            {"type": "text", "text": "SMK Contoh Satu"},
        ],
    }
    assert first == {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "0",
        "parameters": [{"type": "payload", "payload": "a:resume"}],
    }
    assert second["index"] == "1"
    bare = render_template(TO, Template("hello_world", "en"))
    assert "components" not in bare["template"]


def test_media_messages():
    doc = render_document(TO, "media-1", "rekap.xlsx", "Rekap kelas XII TKJ 1")
    assert doc["document"] == {
        "id": "media-1",
        "filename": "rekap.xlsx",
        "caption": "Rekap kelas XII TKJ 1",
    }
    image = render_image(TO, "media-2", "x" * 2000)
    assert wa_len(image["image"]["caption"]) == 1024
    assert limit_violations(doc) == [] and limit_violations(image) == []


def test_limit_violations_catches_what_whatsapp_rejects():
    [good] = render(TO, Reply("Status?", "status", STATUS[:3]))
    bad = {**good, "interactive": {**good["interactive"]}}
    bad["interactive"]["action"] = {
        "buttons": [{"type": "reply", "reply": {"id": "q:s:a", "title": "x" * 21}}] * 2
    }
    problems = limit_violations(bad)
    assert any("longer than 20" in p for p in problems)
    assert "button titles not unique" in problems and "button ids not unique" in problems
    assert limit_violations({"messaging_product": "whatsapp", "to": TO, "type": "text"})
    assert limit_violations(render_text(TO, "ok")[0]) == []
    assert any(
        "4096" in p
        for p in limit_violations({**render_text(TO, "a")[0], "text": {"body": "a" * 4097}})
    )


def test_fit():
    assert fit("Belum bekerja, sedang mencari", 20) == "Belum bekerja, seda…"
    assert fit("  Kursus / pelatihan ", 20) == "Kursus / pelatihan"
    assert wa_len(fit("😀" * 30, 20)) <= 20


# --- properties ---

any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)
long_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=60, max_size=120)
labels = st.one_of(any_text, long_text, st.sampled_from(["Belum bekerja, sedang mencari"])).filter(
    lambda s: s.strip()
)
option_lists = st.lists(
    st.builds(
        Option,
        code=st.from_regex(r"[a-z0-9_]{1,20}", fullmatch=True),
        label=labels,
        short=labels,
        description=st.text(max_size=100),
    ),
    min_size=0,
    max_size=14,
    unique_by=lambda o: o.code,
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(any_text, st.text(max_size=5000)),
    options=option_lists.filter(lambda options: 1 <= len(options) <= 10),
    list_button=labels,
)
def test_questions_with_up_to_ten_options_render_as_taps_within_limits(text, options, list_button):
    reply = Reply(text, "some_question", tuple(options))
    payloads = render(TO, reply, list_button=list_button)
    assert_fits(payloads)
    content = interactive(payloads[-1])
    assert content["type"] == ("button" if len(options) <= 3 else "list")
    if content["type"] == "list":
        rows = content["action"]["sections"][0]["rows"]
        for row, option in zip(rows, options, strict=True):
            assert decode_reply_id(row["id"]).value == option.code
            label = " ".join(option.label.split())
            if wa_len(label) > 24:  # the title cannot hold it: the description shows it
                assert row["description"] == fit(label, 72)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=6000),
    options=option_lists,
    question=st.one_of(st.none(), st.from_regex(r"[a-z_]{1,30}", fullmatch=True)),
    multi=st.booleans(),
    action=st.one_of(st.none(), st.from_regex(r"[a-z]{1,10}:[0-9]{1,6}", fullmatch=True)),
    list_button=labels,
)
def test_every_rendered_payload_respects_every_limit(
    text, options, question, multi, action, list_button
):
    reply = Reply(text, question, tuple(options), multi=multi, action=action)
    payloads = render(TO, reply, list_button=list_button)
    for payload in payloads:
        assert limit_violations(payload) == [], payload
    if not text.strip() and not options and not action:
        assert payloads == []
        return
    assert payloads
    last = payloads[-1]
    if last["type"] == "interactive":
        content = last["interactive"]
        ids = (
            [b["reply"]["id"] for b in content["action"]["buttons"]]
            if content["type"] == "button"
            else [r["id"] for r in content["action"]["sections"][0]["rows"]]
        )
        for rid, option in zip(ids, options, strict=False):
            decoded = decode_reply_id(rid)
            if action:
                assert decoded.kind == InputKind.ACTION and decoded.value.startswith(action)
            else:
                assert (decoded.question, decoded.value) == (question, option.code)
    else:
        # numbered text: every full label is shown
        body = "\n\n".join(p["text"]["body"] for p in payloads)
        for option in options:
            assert option.label.strip()[:50].split("\n")[0].strip() in body


def test_an_outbox_payload_keeps_whether_options_are_numbered():
    """A reminder at a range question is stored in the outbox and rendered later: it still
    shows the options without numbers. Rows written before the field existed are numbered."""
    from bot.outreach.messages import payload_to_reply, reply_to_payload

    options = (Option("0", "Tidak ada", "Tidak ada"), Option("1_4", "1–4 orang", "1–4 orang"))
    reply = Reply("Berapa orang?", "D3", options, numbered=False)
    assert payload_to_reply(reply_to_payload(reply)) == reply
    old_row = reply_to_payload(reply)
    del old_row["numbered"]
    assert payload_to_reply(old_row).numbered is True
