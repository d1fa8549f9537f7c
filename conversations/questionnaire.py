"""Load and validate the questionnaire flow file (conversations/questionnaire.yaml).

Validation errors name the bad node, e.g. `questionnaire.yaml: node C3: unknown choice set 'x'`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from conversations.messages import LANGUAGES, Catalogue, catalogue
from conversations.quantities import RangeSet, parse_ranges
from conversations.types import Option

_PATH = Path(__file__).with_name("questionnaire.yaml")
NODE_TYPES = ("choice", "multi", "text", "month")
END = "end"
SHORT_MAX = 20  # WhatsApp reply-button title


class QuestionnaireError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    field: str
    type: str
    required: bool
    choices: str | None = None
    next: str | None = None
    branches: dict[str, str] = field(default_factory=dict)

    def successor(self, value: Any) -> str:
        if self.branches and isinstance(value, str) and value in self.branches:
            return self.branches[value]
        return self.next or END


@dataclass(frozen=True, slots=True)
class Flow:
    version: int
    start: str
    nodes: dict[str, Node]
    choice_sets: dict[str, tuple[str, ...]]
    catalogue: Catalogue
    ranges: dict[str, RangeSet] = field(default_factory=dict)  # choice sets of numeric ranges

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def options(self, set_name: str, lang: str) -> tuple[Option, ...]:
        return tuple(self.option(set_name, code, lang) for code in self.choice_sets[set_name])

    def option(self, set_name: str, code: str, lang: str) -> Option:
        cat = self.catalogue
        label = cat.t(f"choice.{set_name}.{code}", lang)
        short = cat.get(f"short.{set_name}.{code}", lang) or label
        return Option(code=code, label=label, short=short)

    def label(self, set_name: str, code: str, lang: str) -> str:
        return self.catalogue.t(f"choice.{set_name}.{code}", lang)

    def fields(self) -> list[str]:
        seen: list[str] = []
        for node in self.nodes.values():
            if node.field not in seen:
                seen.append(node.field)
        return seen

    def path(self, answers: dict[str, Any]) -> list[Node]:
        """The nodes a person with these answers went through, in order (their branch)."""
        out: list[Node] = []
        nid = self.start
        while nid != END and nid in self.nodes and len(out) <= len(self.nodes):
            node = self.nodes[nid]
            out.append(node)
            nid = node.successor(answers.get(node.field))
        return out

    def node_for_field(self, field_name: str) -> Node | None:
        return next((n for n in self.nodes.values() if n.field == field_name), None)


def _fail(msg: str) -> QuestionnaireError:
    return QuestionnaireError(f"{_PATH.name}: {msg}")


def parse_flow(data: Any, cat: Catalogue) -> Flow:
    if not isinstance(data, dict):
        raise _fail("the file must be a mapping with `start`, `choice_sets` and `nodes`")
    sets_raw = data.get("choice_sets") or {}
    if not isinstance(sets_raw, dict):
        raise _fail("`choice_sets` must map a set name to a list of codes")
    choice_sets: dict[str, tuple[str, ...]] = {}
    for name, codes in sets_raw.items():
        if not isinstance(codes, list) or not codes:
            raise _fail(f"choice set {name!r}: must be a non-empty list of codes")
        codes = tuple(str(c) for c in codes)
        if len(set(codes)) != len(codes):
            raise _fail(f"choice set {name!r}: duplicate codes")
        choice_sets[str(name)] = codes
    ranges_raw = data.get("ranges") or {}
    if not isinstance(ranges_raw, dict):
        raise _fail("`ranges` must map a choice set name to its unit and bounds")
    ranges: dict[str, RangeSet] = {}
    for name, raw in ranges_raw.items():
        if str(name) not in choice_sets:
            raise _fail(f"ranges {str(name)!r}: no choice set of that name")
        try:
            ranges[str(name)] = parse_ranges(str(name), raw, choice_sets[str(name)])
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    nodes_raw = data.get("nodes")
    if not isinstance(nodes_raw, list) or not nodes_raw:
        raise _fail("`nodes` must be a non-empty list")
    nodes: dict[str, Node] = {}
    for index, raw in enumerate(nodes_raw):
        if not isinstance(raw, dict) or "id" not in raw:
            raise _fail(f"node #{index + 1}: must be a mapping with an `id`")
        nid = str(raw["id"])
        where = f"node {nid}"
        if nid in nodes:
            raise _fail(f"{where}: duplicate id")
        ntype = raw.get("type")
        if ntype not in NODE_TYPES:
            raise _fail(f"{where}: type must be one of {', '.join(NODE_TYPES)}, not {ntype!r}")
        if not raw.get("field"):
            raise _fail(f"{where}: missing `field`")
        choices = raw.get("choices")
        if ntype in ("choice", "multi"):
            if choices not in choice_sets:
                raise _fail(f"{where}: unknown choice set {choices!r}")
        elif choices is not None:
            raise _fail(f"{where}: a {ntype} node takes no `choices`")
        branches = raw.get("branches") or {}
        if branches and ntype != "choice":
            raise _fail(f"{where}: only choice nodes may branch")
        if not branches and "next" not in raw:
            raise _fail(f"{where}: needs `next` or `branches`")
        if branches:
            missing = set(choice_sets[choices]) - set(branches)
            if missing:
                raise _fail(f"{where}: no branch for {', '.join(sorted(missing))}")
        nodes[nid] = Node(
            id=nid,
            field=str(raw["field"]),
            type=ntype,
            required=bool(raw.get("required", True)),
            choices=choices,
            next=str(raw["next"]) if raw.get("next") is not None else None,
            branches={str(k): str(v) for k, v in branches.items()},
        )
    start = str(data.get("start", ""))
    if start not in nodes:
        raise _fail(f"start node {start!r} does not exist")
    for node in nodes.values():
        for target in [node.next, *node.branches.values()]:
            if target is not None and target != END and target not in nodes:
                raise _fail(f"node {node.id}: goes to unknown node {target!r}")
    flow = Flow(int(data.get("version", 1)), start, nodes, choice_sets, cat, ranges)
    _check_texts(flow)
    _check_acyclic(flow)
    return flow


def _check_texts(flow: Flow) -> None:
    cat = flow.catalogue
    for name, ranges in flow.ranges.items():
        key = f"answer.range.{ranges.unit}"
        if not cat.has(key):
            raise _fail(f"ranges {name!r}: no hint `{key}` in the catalogue")
    for node in flow.nodes.values():
        if not cat.has(f"q.{node.id}"):
            raise _fail(f"node {node.id}: no question text `q.{node.id}` in the catalogue")
        if node.choices:
            for code in flow.choice_sets[node.choices]:
                key = f"choice.{node.choices}.{code}"
                if not cat.has(key):
                    raise _fail(f"node {node.id}: no label `{key}` in the catalogue")
                for lang in LANGUAGES:
                    short = flow.option(node.choices, code, lang).short
                    if len(short) > SHORT_MAX:
                        raise _fail(
                            f"node {node.id}: {lang} title for {code!r} is longer than "
                            f"{SHORT_MAX} characters; add `short.{node.choices}.{code}`"
                        )


def _check_acyclic(flow: Flow) -> None:
    state: dict[str, int] = {}

    def visit(nid: str) -> None:
        if nid == END:
            return
        if state.get(nid) == 1:
            raise _fail(f"node {nid}: the flow loops back to itself")
        if state.get(nid) == 2:
            return
        state[nid] = 1
        node = flow.nodes[nid]
        for target in {node.next, *node.branches.values()} - {None}:
            visit(target)
        state[nid] = 2

    visit(flow.start)


def load_flow(path: Path = _PATH, cat: Catalogue | None = None) -> Flow:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QuestionnaireError(f"{path.name}: not valid YAML: {exc}") from exc
    return parse_flow(data, cat or catalogue())


@lru_cache
def default_flow() -> Flow:
    return load_flow()
