"""The questionnaire flow file: the shipped one is complete; broken ones fail naming the node."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conversations.messages import LANGUAGES, Catalogue, catalogue
from conversations.questionnaire import (
    END,
    SHORT_MAX,
    QuestionnaireError,
    default_flow,
    load_flow,
    parse_flow,
)

SHIPPED = Path(__file__).resolve().parents[1] / "conversations" / "questionnaire.yaml"
QUESTIONNAIRE_MD = Path(__file__).resolve().parents[2] / "shared" / "QUESTIONNAIRE.md"


# ---- the shipped flow ----
def test_shipped_flow_loads_and_starts_at_the_status_question():
    flow = load_flow(SHIPPED)
    assert flow.start == "B1"
    assert flow.node("B1").field == "status" and flow.node("B1").required
    assert set(flow.node("B1").branches.values()) == {"C1", "D1", "E1", "F1", "G1", "H1"}
    assert default_flow().nodes.keys() == flow.nodes.keys()


def test_shipped_codes_are_the_contract_of_questionnaire_md():
    """The codes are the contract: the shipped ones are those of QUESTIONNAIRE.md, in order."""
    flow = default_flow()
    expected = {
        "status": [
            "bekerja",
            "wirausaha",
            "melanjutkan",
            "kursus",
            "mencari_kerja",
            "tidak_mencari",
        ],
        "employer_type": [
            "swasta",
            "bumn_bumd",
            "pemerintah",
            "tni_polri",
            "nirlaba",
            "perorangan",
        ],
        "work_location": ["kota_sama", "provinsi_sama", "provinsi_lain", "luar_negeri"],
        "income": ["lt1", "1_2", "2_3", "3_4", "4_5", "gt5", "rahasia"],
        "workers": ["0", "1_4", "5_19", "20plus"],
        "level": ["d1", "d2", "d3", "d4_s1"],
        "relevance_study": ["ya", "sebagian", "tidak"],
        "searching_months": ["lt1", "1_3", "4_6", "7_12", "gt12"],
        "reason": ["keluarga", "kesehatan", "persiapan_kuliah", "lainnya"],
    }
    for name, codes in expected.items():
        assert list(flow.choice_sets[name]) == codes, name
    if QUESTIONNAIRE_MD.exists():  # the shared spec sits next to the repository
        spec = QUESTIONNAIRE_MD.read_text(encoding="utf-8")
        for name, codes in flow.choice_sets.items():
            for code in codes:
                assert f"`{code}`" in spec, f"{name}.{code} is not in QUESTIONNAIRE.md"
        for node in flow.nodes.values():
            assert f"`{node.field}`" in spec or node.field == "status", node.id


def test_shipped_fields_are_the_storage_field_names():
    assert default_flow().fields() == [
        "status",
        "employer",
        "job_title",
        "employer_type",
        "work_location",
        "start_month",
        "job_channel",
        "income",
        "relevance",
        "business_field",
        "workers",
        "institution",
        "study_program",
        "level",
        "provider",
        "field",
        "goal",
        "searching_months",
        "obstacles",
        "willing_to_relocate",
        "reason",
        "school_feedback",
    ]


def test_only_income_and_feedback_are_optional():
    flow = default_flow()
    optional = sorted(n.id for n in flow.nodes.values() if not n.required)
    assert optional == ["C7", "D4", "Z1"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_question_and_label_exists_in_both_languages(lang):
    flow = default_flow()
    cat = flow.catalogue
    for node in flow.nodes.values():
        text = cat.t(f"q.{node.id}", lang)
        assert isinstance(text, str) and text.strip(), node.id
        if node.choices:
            for opt in flow.options(node.choices, lang):
                assert opt.label.strip() and opt.short.strip(), (node.id, opt.code)
    # the built-in onboarding choices, the multi-select "done" button
    for key in (
        "choice.consent.setuju",
        "choice.consent.tidak_setuju",
        "choice.confirm.ya",
        "choice.confirm.bukan",
        "choice.multi._done",
    ):
        assert cat.t(key, lang).strip()


def test_the_two_languages_differ_somewhere_in_every_question_set():
    """A sanity check that English is not just a copy of Indonesian."""
    cat = default_flow().catalogue
    for node_id in default_flow().nodes:
        assert cat.t(f"q.{node_id}", "id") != cat.t(f"q.{node_id}", "en"), node_id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_whatsapp_short_title_fits_twenty_characters(lang):
    flow = default_flow()
    sets = {n.choices for n in flow.nodes.values() if n.choices}
    titles = [(s, o.code, o.short) for s in sets for o in flow.options(s, lang)]
    titles += [
        (s, c, flow.option(s, c, lang).short)
        for s, codes in {"consent": ["setuju", "tidak_setuju"], "confirm": ["ya", "bukan"]}.items()
        for c in codes
    ]
    titles.append(("multi", "_done", flow.option("multi", "_done", lang).short))
    assert len(titles) > 60
    too_long = [t for t in titles if len(t[2]) > SHORT_MAX]
    assert too_long == []


def test_catalogue_entries_are_text_and_aliases_are_strings():
    """YAML 1.1 reads bare yes/no as booleans: an alias must still be the word a person types."""
    cat = catalogue()
    for key in list(cat.keys()):
        for lang in LANGUAGES:
            value = cat.raw(key, lang)
            if key.startswith("alias."):
                assert isinstance(value, list), key
                assert all(isinstance(a, str) and a.strip() for a in value), (key, lang, value)
            else:
                assert isinstance(value, str) and value.strip(), (key, lang)


def test_every_catalogue_placeholder_is_the_same_in_both_languages():
    cat = catalogue()
    for key in list(cat.keys()):
        if key.startswith("alias."):
            continue
        fields = [set(re.findall(r"\{(\w+)\}", cat.raw(key, lang))) for lang in LANGUAGES]
        assert fields[0] == fields[1], key


# ---- validation: broken flows name the bad node ----
def base() -> dict[str, Any]:
    """A small valid flow over real catalogue keys."""
    return {
        "version": 1,
        "start": "B1",
        "choice_sets": {
            "status": [
                "bekerja",
                "wirausaha",
                "melanjutkan",
                "kursus",
                "mencari_kerja",
                "tidak_mencari",
            ],
            "yes_no": ["ya", "tidak"],
        },
        "nodes": [
            {
                "id": "B1",
                "field": "status",
                "type": "choice",
                "choices": "status",
                "branches": {
                    "bekerja": "C1",
                    "wirausaha": "C1",
                    "melanjutkan": "Z1",
                    "kursus": "Z1",
                    "mencari_kerja": "G3",
                    "tidak_mencari": "Z1",
                },
            },
            {"id": "C1", "field": "employer", "type": "text", "next": "C5"},
            {"id": "C5", "field": "start_month", "type": "month", "next": "Z1"},
            {
                "id": "G3",
                "field": "willing_to_relocate",
                "type": "choice",
                "choices": "yes_no",
                "next": "Z1",
            },
            {
                "id": "Z1",
                "field": "school_feedback",
                "type": "text",
                "required": False,
                "next": "end",
            },
        ],
    }


def node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def test_the_base_flow_is_valid():
    flow = parse_flow(base(), catalogue())
    assert list(flow.nodes) == ["B1", "C1", "C5", "G3", "Z1"]
    assert flow.node("B1").successor("mencari_kerja") == "G3"
    assert flow.node("Z1").successor(None) == END
    assert flow.node("Z1").required is False and flow.node("C1").required is True


def broken(change) -> dict[str, Any]:
    data = copy.deepcopy(base())
    change(data)
    return data


CASES = {
    "unknown choice set": (
        lambda d: node(d, "G3").update(choices="ya_tidak"),
        r"node G3: unknown choice set 'ya_tidak'",
    ),
    "missing branch": (
        lambda d: node(d, "B1")["branches"].pop("kursus"),
        r"node B1: no branch for kursus",
    ),
    "next to unknown node": (
        lambda d: node(d, "C1").update(next="C9"),
        r"node C1: goes to unknown node 'C9'",
    ),
    "branch to unknown node": (
        lambda d: node(d, "B1")["branches"].update(kursus="F1"),
        r"node B1: goes to unknown node 'F1'",
    ),
    "loop": (
        lambda d: node(d, "C5").update(next="C1"),
        r"node C\d: the flow loops back to itself",
    ),
    "self loop": (
        lambda d: node(d, "G3").update(next="G3"),
        r"node G3: the flow loops back to itself",
    ),
    "text node with choices": (
        lambda d: node(d, "C1").update(choices="yes_no"),
        r"node C1: a text node takes no `choices`",
    ),
    "duplicate ids": (
        lambda d: d["nodes"].append({"id": "C1", "field": "x", "type": "text", "next": "end"}),
        r"node C1: duplicate id",
    ),
    "missing question text": (
        lambda d: d["nodes"].insert(1, {"id": "C99", "field": "x", "type": "text", "next": "end"}),
        r"node C99: no question text `q.C99`",
    ),
    "missing choice label": (
        lambda d: d["choice_sets"]["yes_no"].append("mungkin"),
        r"node G3: no label `choice.yes_no.mungkin`",
    ),
    "unknown type": (
        lambda d: node(d, "C5").update(type="date"),
        r"node C5: type must be one of",
    ),
    "missing field": (
        lambda d: node(d, "C5").pop("field"),
        r"node C5: missing `field`",
    ),
    "no next": (
        lambda d: node(d, "C5").pop("next"),
        r"node C5: needs `next` or `branches`",
    ),
    "branching text node": (
        lambda d: node(d, "C1").update(branches={"a": "Z1"}),
        r"node C1: only choice nodes may branch",
    ),
    "unknown start": (
        lambda d: d.update(start="A0"),
        r"start node 'A0' does not exist",
    ),
    "node without id": (
        lambda d: d["nodes"].append({"field": "x", "type": "text"}),
        r"node #6: must be a mapping with an `id`",
    ),
    "duplicate codes": (
        lambda d: d["choice_sets"]["yes_no"].append("ya"),
        r"choice set 'yes_no': duplicate codes",
    ),
    "empty choice set": (
        lambda d: d["choice_sets"].update(yes_no=[]),
        r"choice set 'yes_no': must be a non-empty list",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validation_error_names_the_bad_node(case):
    change, message = CASES[case]
    with pytest.raises(QuestionnaireError, match=message) as err:
        parse_flow(broken(change), catalogue())
    assert str(err.value).startswith("questionnaire.yaml: ")


def test_a_too_long_short_title_names_the_node_and_the_fix():
    entries = {
        k: {lang: catalogue().raw(k, lang) for lang in LANGUAGES} for k in list(catalogue().keys())
    }
    entries["choice.yes_no.ya"] = {"id": "Ya, saya bersedia pindah kota", "en": "Yes"}
    with pytest.raises(QuestionnaireError, match=r"node G3: id title for 'ya' is longer than 20"):
        parse_flow(base(), Catalogue(entries))
    entries["short.yes_no.ya"] = {"id": "Ya, bersedia", "en": "Yes"}
    flow = parse_flow(base(), Catalogue(entries))
    assert flow.option("yes_no", "ya", "id").short == "Ya, bersedia"


@pytest.mark.parametrize(
    "data", [None, [], "nodes", {"nodes": []}, {"choice_sets": [], "nodes": []}]
)
def test_a_file_that_is_not_a_flow_fails_clearly(data):
    with pytest.raises(QuestionnaireError, match=r"^questionnaire\.yaml: "):
        parse_flow(data, catalogue())


def test_load_flow_from_a_file(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(base()), encoding="utf-8")
    assert list(load_flow(path).nodes) == ["B1", "C1", "C5", "G3", "Z1"]
    path.write_text(yaml.safe_dump(broken(CASES["loop"][0])), encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="loops back"):
        load_flow(path)


def test_bad_yaml_fails_with_the_file_name(tmp_path):
    path = tmp_path / "kuesioner.yaml"
    path.write_text("start: B1\nnodes:\n  - {id: B1, field: status\n  - [unclosed\n", "utf-8")
    with pytest.raises(QuestionnaireError, match=r"^kuesioner\.yaml: not valid YAML"):
        load_flow(path)


def test_path_follows_the_branch_of_the_answers():
    from conversations.questionnaire import default_flow

    flow = default_flow()
    ids = [n.id for n in flow.path({"status": "melanjutkan", "relevance": "ya"})]
    assert ids == ["B1", "E1", "E2", "E3", "E4", "Z1"]
    assert [n.id for n in flow.path({})] == ["B1"]  # no status yet: the branch is unknown


# ---- numeric ranges (`ranges:`) ----
def test_shipped_ranges_cover_every_numeric_option():
    flow = default_flow()
    assert {name: r.unit for name, r in flow.ranges.items()} == {
        "workers": "people",
        "searching_months": "months",
        "income": "million_rupiah",
    }
    for name, ranges in flow.ranges.items():
        unranged = set(flow.choice_sets[name]) - set(ranges.codes)
        assert unranged == ({"rahasia"} if name == "income" else set()), name
    # the nodes that ask them show their options without numbers (see the engine tests)
    assert {n.id for n in flow.nodes.values() if n.choices in flow.ranges} == {
        "C7",
        "D3",
        "D4",
        "G1",
    }


def with_ranges(ranges: Any) -> dict[str, Any]:
    data = base()
    data["choice_sets"]["workers"] = ["0", "1_4", "5_19", "20plus"]
    node(data, "C5")["next"] = "D3"
    data["nodes"].append(
        {"id": "D3", "field": "workers", "type": "choice", "choices": "workers", "next": "Z1"}
    )
    data["ranges"] = ranges
    return data


def workers_ranges(**change: Any) -> dict[str, Any]:
    bounds: dict[str, Any] = {
        "0": {"min": 0, "max": 0},
        "1_4": {"min": 1, "max": 4},
        "5_19": {"min": 5, "max": 19},
        "20plus": {"min": 20},
    }
    bounds.update(change)
    return {"workers": {"unit": "people", "bounds": {k: v for k, v in bounds.items() if v}}}


def test_a_flow_with_ranges_is_valid():
    flow = parse_flow(with_ranges(workers_ranges()), catalogue())
    assert flow.ranges["workers"].codes == ("0", "1_4", "5_19", "20plus")
    assert flow.ranges["workers"].unit == "people"


RANGE_CASES = {
    "unknown set": ({"pekerja": {"unit": "people", "bounds": {}}}, r"ranges 'pekerja': no choice"),
    "not a mapping": ({"workers": ["0", "1_4"]}, r"ranges 'workers': must map `unit`"),
    "unknown unit": (
        {"workers": {"unit": "orang", "bounds": workers_ranges()["workers"]["bounds"]}},
        r"ranges 'workers': unit must be one of people, months, million_rupiah",
    ),
    "unknown code": (
        workers_ranges(**{"1_5": {"min": 1, "max": 5}}),
        r"ranges 'workers', code '1_5': not a code of choice set 'workers'",
    ),
    "unknown bound key": (
        workers_ranges(**{"1_4": {"from": 1, "to": 4}}),
        r"code '1_4': give min/above and max/below",
    ),
    "min and above": (
        workers_ranges(**{"1_4": {"min": 1, "above": 0, "max": 4}}),
        r"code '1_4': min and above \(or max and below\) exclude each other",
    ),
    "negative": (workers_ranges(**{"1_4": {"min": -1, "max": 4}}), r"min must be a number >= 0"),
    "not a number": (
        workers_ranges(**{"1_4": {"min": 1, "max": "4"}}),
        r"max must be a number >= 0, not '4'",
    ),
    "empty range": (workers_ranges(**{"1_4": {"min": 4, "below": 4}}), r"the range is empty"),
    "overlap": (
        workers_ranges(**{"1_4": {"min": 1, "max": 6}}),
        r"'1_4' and '5_19' overlap or are not in ascending order",
    ),
    "not from 0": (workers_ranges(**{"0": {"min": 1, "max": 1}}), r"must start at 0"),
    "closed at the top": (workers_ranges(**{"20plus": {"min": 20, "max": 99}}), r"open-ended"),
    "open in the middle": (workers_ranges(**{"1_4": {"min": 1}}), r"overlap or are not in"),
    "one range only": (
        {"workers": {"unit": "people", "bounds": {"0": {"min": 0}}}},
        r"`bounds` must give at least two codes",
    ),
}


@pytest.mark.parametrize("case", list(RANGE_CASES))
def test_broken_ranges_fail_naming_the_set_and_code(case):
    ranges, message = RANGE_CASES[case]
    with pytest.raises(QuestionnaireError, match=message) as err:
        parse_flow(with_ranges(ranges), catalogue())
    assert str(err.value).startswith("questionnaire.yaml: ")


def test_a_range_unit_needs_its_hint_in_the_catalogue():
    entries = {
        k: {lang: catalogue().raw(k, lang) for lang in LANGUAGES} for k in list(catalogue().keys())
    }
    del entries["answer.range.people"]
    with pytest.raises(QuestionnaireError, match=r"no hint `answer.range.people`"):
        parse_flow(with_ranges(workers_ranges()), Catalogue(entries))


def test_a_shared_closed_edge_is_allowed_and_asked_back():
    from conversations.answers import HINT_BETWEEN, match_choice

    ranges = workers_ranges(**{"1_4": {"min": 1, "max": 5}})  # 5 is in "1_4" and in "5_19"
    flow = parse_flow(with_ranges(ranges), catalogue())
    opts = flow.options("workers", "id")
    result = match_choice("5", opts, {}, flow.ranges["workers"])
    assert result.code is None and result.ambiguous == ("1_4", "5_19")
    assert result.hint == HINT_BETWEEN
    assert match_choice("6", opts, {}, flow.ranges["workers"]).code == "5_19"
