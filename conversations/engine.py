"""The conversation engine: a pure function `step(flow, state, input, ctx) -> Step`.

No I/O. The state is a JSON-able dict that the shell stores per contact. Where the engine needs
a fact from the database (does this invitation code / NISN + birth date exist?) it returns a
`Lookup` effect; the shell answers it by calling `step` again with a `LookupResult`, within the
same transaction. Other effects (link the contact, record consent, start or complete a response,
show or delete data, STOP) are carried out by the shell.

Stages: new -> consent -> (lookup) -> ask_id -> ask_dob | verify_dob | confirm -> vacancies -> q
-> done; plus refused, deleted and confirm_delete.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from conversations.answers import (
    Match,
    clean_text,
    format_month,
    match_choice,
    match_multi,
    norm,
    read_date,
    read_month,
)
from conversations.intents import (
    BOTH,
    NO,
    YES,
    find_code,
    find_date,
    find_identity,
    is_greeting,
    yes_no,
)
from conversations.questionnaire import END, Flow, Node
from conversations.types import Inbound, InputKind, Option, Reply

STATE_VERSION = 1
TEXT_MAX = 200
MULTI_DONE = "_done"
# built-in question ids (button ids) for the onboarding choices
Q_CONSENT, Q_CONFIRM, Q_VACANCIES = "A1", "A2", "A3"

KEYWORDS = {
    "help": {"bantuan", "help", "menu", "tolong"},
    "language": {"bahasa", "language", "lang"},
    "data": {"data", "datasaya", "data saya", "mydata"},
    "ubah": {"ubah", "update", "perbarui", "edit"},
    "delete": {"hapus", "delete", "hapus data"},
    "stop": {"stop", "berhenti", "unsubscribe"},
    "mulai": {"mulai", "resume", "lanjut kirim"},
    "back": {"kembali", "back", "balik"},
    "skip": {"lewati", "skip", "lewat"},
    "start": {"start", "mulai ulang", "restart"},
}
_SLASH_WORD = re.compile(r"/\w+(@\w+)?(\s.*)?", re.DOTALL)
# the yes and the no code of each two-way question, read with `intents.yes_no`
_BINARY = {
    "consent": ("setuju", "tidak_setuju"),
    "confirm": ("ya", "bukan"),
    "yes_no": ("ya", "tidak"),
}
# stages of a chat that is not (or no longer) in the onboarding: MULAI or a greeting begins it
_IDLE = ("new", "refused", "deleted")


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime  # aware UTC
    school: str = "SMK"
    retention: dict[str, str] = field(default_factory=lambda: {"id": "5 tahun", "en": "5 years"})
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    max_failures: int = 5
    lock_minutes: int = 60


# ---- effects ----
@dataclass(frozen=True, slots=True)
class Lookup:
    kind: str  # code | nisn | dob | phone
    code: str | None = None
    nisn: str | None = None
    dob: date | None = None
    alumnus_id: int | None = None


@dataclass(frozen=True, slots=True)
class LookupResult:
    found: bool
    alumnus: dict[str, Any] | None = None  # id, name, kelas, year
    needs_dob: bool = False  # a code already used by another chat: check the birth date too


@dataclass(frozen=True, slots=True)
class Link:
    alumnus_id: int
    consent_at: str  # ISO time the tracer consent was given


@dataclass(frozen=True, slots=True)
class VacancyConsent:
    granted: bool


@dataclass(frozen=True, slots=True)
class Refused:
    """Tracer consent declined. `code`: the invitation code the person came with, if any; the
    shell records the refusal on that graduate when the code identifies one (nobody else)."""

    code: str | None = None


@dataclass(frozen=True, slots=True)
class BeginResponse:
    pass


@dataclass(frozen=True, slots=True)
class Complete:
    status: str | None


@dataclass(frozen=True, slots=True)
class ShowData:
    pass


@dataclass(frozen=True, slots=True)
class DeleteData:
    pass


@dataclass(frozen=True, slots=True)
class SetStop:
    stopped: bool


@dataclass(frozen=True, slots=True)
class SetLanguage:
    lang: str


Effect = (
    Lookup
    | Link
    | VacancyConsent
    | Refused
    | BeginResponse
    | Complete
    | ShowData
    | DeleteData
    | SetStop
    | SetLanguage
)


@dataclass(slots=True)
class Step:
    state: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    chosen_label: str | None = None  # label of a valid tapped option


def initial_state(lang: str = "id") -> dict[str, Any]:
    return {"v": STATE_VERSION, "stage": "new", "lang": lang if lang in ("id", "en") else "id"}


def keyword(text: str) -> tuple[str | None, str]:
    """("ubah", "") for "UBAH" or "/ubah"; ("language", "en") for "/bahasa en" (slash only)."""
    t = text.strip()
    slash = t.startswith("/")
    if slash:
        t = t[1:]
        t = re.sub(r"@\w+", "", t, count=1)  # /start@jejak_bot
    raw_words = t.strip().split(None, 1)
    head = norm(raw_words[0]) if raw_words else ""
    rest = raw_words[1].strip() if len(raw_words) > 1 else ""
    full = norm(t)
    for name, spellings in KEYWORDS.items():
        if full in spellings:
            return name, ""
        # with an argument only as a /command: "Bahasa Jepang" may be a course, not a command
        if name in ("language", "start") and head in spellings and slash:
            return name, rest
    return None, ""


# ---------------------------------------------------------------------------------------------
class _Run:
    """One step's working copy: state, replies, effects."""

    def __init__(self, flow: Flow, state: dict[str, Any], ctx: Context) -> None:
        self.flow = flow
        self.s = copy.deepcopy(state) if state else initial_state()
        self.ctx = ctx
        self.out = Step(self.s)

    # -- helpers --
    @property
    def lang(self) -> str:
        return self.s.get("lang", "id")

    def t(self, key: str, **params: Any) -> str:
        return self.flow.catalogue.t(key, self.lang, **params)

    def say(self, key: str, **params: Any) -> None:
        self.out.replies.append(Reply(text=self.t(key, **params)))

    def effect(self, e: Effect) -> None:
        self.out.effects.append(e)

    def builtin_options(self, set_name: str) -> tuple[Option, ...]:
        codes = {"consent": ("setuju", "tidak_setuju"), "confirm": ("ya", "bukan")}.get(
            set_name
        ) or self.flow.choice_sets[set_name]
        return tuple(self.flow.option(set_name, c, self.lang) for c in codes)

    def aliases(self, set_name: str, codes: list[str]) -> dict[str, list[str]]:
        cat = self.flow.catalogue
        return {c: cat.aliases(f"alias.{set_name}.{c}", self.lang) for c in codes}

    # -- prompts --
    def prompt(self, prefix: str | None = None) -> Reply:
        stage = self.s["stage"]
        text: str
        question: str | None = None
        options: tuple[Option, ...] = ()
        multi = False
        numbered = True
        if stage == "consent":
            text = self.t("consent", school=self.ctx.school, retention=self.retention())
            question, options = Q_CONSENT, self.builtin_options("consent")
        elif stage == "ask_id":
            text = self.t("identify.ask")
        elif stage == "ask_dob":
            text = self.t("identify.ask_dob")
        elif stage == "verify_dob":
            c = self.s.get("candidate") or {}
            text = self.t("identify.phone_match", name=c.get("name", ""), kelas=c.get("kelas", ""))
        elif stage == "confirm":
            c = self.s.get("candidate") or {}
            text = self.t(
                "identify.confirm",
                name=c.get("name", ""),
                kelas=c.get("kelas", ""),
                year=c.get("year", ""),
            )
            question, options = Q_CONFIRM, self.builtin_options("confirm")
        elif stage == "vacancies":
            text = self.t("vacancies.ask")
            question, options = Q_VACANCIES, self.builtin_options("yes_no")
        elif stage == "q":
            node = self.flow.node(self.s["node"])
            text = self.t(f"q.{node.id}")
            question = node.id
            if node.choices:
                options = self.flow.options(node.choices, self.lang)
                numbered = node.choices not in self.flow.ranges  # there "4" is a quantity
            if node.type == "multi":
                multi = True
                picked = self.s.get("multi") or []
                if picked:
                    labels = ", ".join(self.flow.label(node.choices, c, self.lang) for c in picked)
                    text += "\n" + self.t("answer.multi_selected", selected=labels)
                    options = (*options, self.flow.option("multi", MULTI_DONE, self.lang))
            hints = []
            if len(self.s.get("history") or []) == 1:  # once, early: how to go back
                hints.append(self.t("hint.controls"))
            if not node.required and node.type != "text":
                hints.append(self.t("hint.skip"))
            if hints:
                text += "\n\n" + " ".join(hints)
        elif stage == "done":
            text = self.t("done.already")
        elif stage == "confirm_delete":
            text = self.t("delete.confirm")
        elif stage == "deleted":
            text = self.t("ubah.not_identified")
        else:  # new, refused
            text = self.t("refused.again")
        if prefix:
            text = prefix + "\n\n" + text
        return Reply(text=text, question=question, options=options, multi=multi, numbered=numbered)

    def ask(self, prefix: str | None = None) -> None:
        self.out.replies.append(self.prompt(prefix))

    def today(self) -> date:
        return self.ctx.now.astimezone(self.ctx.zone).date()

    def retention(self) -> str:
        return self.ctx.retention.get(self.lang) or next(iter(self.ctx.retention.values()), "")

    # -- stage transitions --
    def reset(self, stage: str = "new") -> None:
        """A fresh state, keeping the language and the identification guesses (and lock): a
        refusal or HAPUS followed by /start must not buy another round of NISN guesses."""
        kept = {k: self.s[k] for k in ("failures", "locked_until") if k in self.s}
        lang = self.lang
        self.s.clear()
        self.s.update(initial_state(lang), **kept)
        self.s["stage"] = stage

    def begin_consent(self) -> None:
        self.s["stage"] = "consent"
        self.ask(prefix=self.t("welcome", school=self.ctx.school))

    def begin_questionnaire(self, prefix: str | None = None) -> None:
        self.s.update(stage="q", node=self.flow.start, history=[], answers={}, multi=[])
        self.effect(BeginResponse())
        self.ask(prefix)

    def fail_identity(self, reply_key: str = "identify.no_match") -> None:
        self.s.pop("candidate", None)
        self.s.pop("nisn", None)
        self.s["stage"] = "ask_id"
        failures = int(self.s.get("failures", 0)) + 1
        if failures >= self.ctx.max_failures:
            until = self.ctx.now + timedelta(minutes=self.ctx.lock_minutes)
            self.s["locked_until"] = until.isoformat()
            self.s["failures"] = 0
            self.say("identify.locked", until=until.astimezone(self.ctx.zone).strftime("%H:%M"))
            return
        self.s["failures"] = failures
        self.say(reply_key)

    def locked(self) -> bool:
        until = self.s.get("locked_until")
        if not until:
            return False
        if datetime.fromisoformat(until) > self.ctx.now:
            local = datetime.fromisoformat(until).astimezone(self.ctx.zone).strftime("%H:%M")
            self.say("identify.locked", until=local)
            return True
        self.s.pop("locked_until", None)
        return False


# ---------------------------------------------------------------------------------------------
def step(
    flow: Flow, state: dict[str, Any] | None, inp: Inbound | LookupResult, ctx: Context
) -> Step:
    """Advance the conversation by one input. Never raises on any input."""
    run = _Run(flow, state or initial_state(), ctx)
    if isinstance(inp, LookupResult):
        _on_lookup(run, inp)
        return run.out
    stage = run.s.get("stage", "new")

    if inp.kind == InputKind.START:
        _on_start(run, inp.value)
        return run.out
    if inp.kind == InputKind.MEDIA:
        run.ask(prefix=run.t("answer.media")) if stage != "new" else run.begin_consent()
        return run.out
    if inp.kind == InputKind.ACTION:
        run.ask()
        return run.out

    if inp.kind == InputKind.TEXT:
        kw, arg = keyword(inp.text)
        if kw and kw not in ("back", "skip") and _on_command(run, kw, arg):
            return run.out

    handler = _STAGES.get(stage, _stage_new)
    handler(run, inp)
    return run.out


def _on_start(run: _Run, payload: str | None) -> None:
    stage = run.s.get("stage", "new")
    # a start payload that is not shaped like an invitation code (an ad campaign's tag, a
    # mistyped link) is ignored: it is no guess and identifies nobody
    code = find_code(payload) if payload else None
    if code and stage in ("consent", "ask_id"):  # used after consent / looked up below
        run.s["code"] = code
    if stage in _IDLE:
        run.reset()
        if code:
            run.s["code"] = code
        run.begin_consent()
    elif stage == "q":
        run.ask(prefix=run.t("resume.continue"))
    elif stage == "ask_id" and code and not run.locked():
        run.s["pending"] = "code"
        run.effect(Lookup("code", code=code))
    else:
        run.ask()


def _on_command(run: _Run, kw: str, arg: str) -> bool:
    """Global commands. Returns True when the input was consumed."""
    stage = run.s.get("stage", "new")
    linked = bool(run.s.get("alumnus"))
    if kw == "start":
        _on_start(run, arg or None)
    elif kw == "help":
        run.say("help")
        if stage in _IDLE:
            run.say("help.begin")
        else:
            run.ask()
    elif kw == "language":
        wanted = {"en": "en", "english": "en", "inggris": "en", "id": "id", "indonesia": "id"}
        new = wanted.get(norm(arg)) if arg else ("en" if run.lang == "id" else "id")
        run.s["lang"] = new or ("en" if run.lang == "id" else "id")
        run.effect(SetLanguage(run.s["lang"]))
        run.say("language.switched")
        if stage not in ("new",):
            run.ask()
    elif kw == "data":
        run.effect(ShowData())
        if stage in ("q", "consent", "confirm", "vacancies", "ask_id", "ask_dob", "verify_dob"):
            run.ask()
    elif kw == "stop":
        run.effect(SetStop(True))
        run.say("stop.done")
    elif kw == "mulai":
        if linked:  # after STOP: messages from us again
            run.effect(SetStop(False))
            run.say("stop.resumed")
            if stage in ("vacancies", "q"):  # a reply to "balas untuk mulai": go on too
                run.ask()
        elif stage in _IDLE:  # nothing to resume: MULAI begins, as /start does
            _on_start(run, None)
        else:  # half-way through the onboarding: its current question
            run.ask()
    elif kw == "delete":
        if stage != "confirm_delete":
            run.s["return_stage"] = stage
        run.s["stage"] = "confirm_delete"
        run.ask()
    elif kw == "ubah":
        if not linked:
            run.say("ubah.not_identified")
        elif stage == "q":
            run.s.update(node=run.flow.start, history=[], answers={}, multi=[])
            run.ask(prefix=run.t("ubah.start"))
        elif stage in ("done", "confirm_delete"):
            run.begin_questionnaire(prefix=run.t("ubah.start"))
        else:
            run.ask()
    else:
        return False
    return True


# ---- stages ----
def _stage_new(run: _Run, inp: Inbound) -> None:
    # the first message may carry the invitation code: a WhatsApp invitation ("wa.me/...?text=
    # CODE"), a pasted link, or "kode saya CODE"; it is looked up after the consent
    code = find_code(inp.text) if inp.kind == InputKind.TEXT else None
    if code:
        run.s["code"] = code
    run.begin_consent()


def _stage_refused(run: _Run, inp: Inbound) -> None:
    if inp.kind == InputKind.TEXT and is_greeting(inp.text):
        _on_start(run, None)
        return
    run.say("refused.again")


def _stage_deleted(run: _Run, inp: Inbound) -> None:
    if inp.kind == InputKind.TEXT and is_greeting(inp.text):
        _on_start(run, None)
        return
    run.say("ubah.not_identified")


def _choice(run: _Run, inp: Inbound, question: str, set_name: str) -> str | None:
    """The code picked for a built-in choice question, or None after replying."""
    options = run.builtin_options(set_name)
    if inp.kind == InputKind.CHOICE:
        if inp.question != question or inp.value not in {o.code for o in options}:
            run.ask(prefix=run.t("answer.stale_button"))
            return None
        run.out.chosen_label = next(o.label for o in options if o.code == inp.value)
        return inp.value
    aliases = run.aliases(set_name, [o.code for o in options])
    read = _read_binary(run, inp.text, set_name, aliases)
    if read == BOTH:  # "ya tidak": ask again
        run.ask(prefix=run.t("answer.yes_and_no"))
        return None
    if read is not None:
        return read
    m = match_choice(inp.text, options, aliases)
    if m.code is None:
        _invalid_choice(run, options, m)
        return None
    return m.code


def _read_binary(run: _Run, text: str, set_name: str, aliases: dict[str, list[str]]) -> str | None:
    """The code of a yes/no question from the yes/no words in `text` ("iyaa kak", "gak mau",
    "tidak setuju"); BOTH for a yes and a no at once ("ya tidak"); None when the words decide
    nothing (then the usual choice matching has its turn: a number, a label)."""
    if set_name not in _BINARY:
        return None
    yes_code, no_code = _BINARY[set_name]
    if set(run.flow.choice_sets.get(set_name, _BINARY[set_name])) != {yes_code, no_code}:
        return None  # a questionnaire file that gave the set other choices
    words: dict[str, list[str]] = {}
    for code in (yes_code, no_code):
        labels = [run.flow.label(set_name, code, lang) for lang in ("id", "en")]
        words[code] = [code.replace("_", " "), *labels, *aliases.get(code, [])]
    verdict = yes_no(text, words[yes_code], words[no_code])
    if verdict == YES:
        return yes_code
    if verdict == NO:
        return no_code
    return BOTH if verdict == BOTH else None


def _invalid_choice(run: _Run, options: tuple[Option, ...], m: Match) -> None:
    labels = ", ".join(o.label for o in options if o.code in m.ambiguous)
    if m.hint:
        run.ask(prefix=run.t(m.hint, matches=labels))
    elif m.ambiguous:
        run.ask(prefix=run.t("answer.ambiguous", matches=labels))
    else:
        run.ask(prefix=run.t("answer.invalid_choice"))


def _stage_consent(run: _Run, inp: Inbound) -> None:
    code = _choice(run, inp, Q_CONSENT, "consent")
    if code is None:
        return
    if code == "tidak_setuju":
        invitation = run.s.get("code")
        run.reset("refused")
        run.effect(Refused(code=invitation))
        run.say("consent.refused.invited" if invitation else "consent.refused")
        return
    run.s["consent_at"] = run.ctx.now.isoformat()
    if run.s.get("code"):
        run.s["pending"] = "code"
        run.effect(Lookup("code", code=run.s["code"]))
    else:
        run.s["pending"] = "phone"
        run.effect(Lookup("phone"))


def _stage_ask_id(run: _Run, inp: Inbound) -> None:
    if inp.kind == InputKind.CHOICE:
        run.ask(prefix=run.t("answer.stale_button"))
        return
    if run.locked():
        return
    # Only an invitation code or a NISN (+ birth date) is a guess that counts against the
    # attempt limit; any other text ("lupa nisn", "gimana caranya", "setuju") gets help.
    found = find_identity(inp.text, run.today())
    if found.code:
        run.s["code"] = found.code  # marked used once linked, as a deep link's code
        run.s["pending"] = "code"
        run.effect(Lookup("code", code=found.code))
    elif found.nisn and found.dob:  # both in one message: "0071234501 14-03-2007"
        run.s["pending"] = "nisn"
        run.effect(Lookup("nisn", nisn=found.nisn, dob=found.dob))
    elif found.nisn:
        run.s["nisn"] = found.nisn
        run.s["stage"] = "ask_dob"
        run.ask()
    elif found.near_code:
        run.say("identify.bad_code")
    elif found.digits:
        run.say("identify.bad_nisn")
    else:
        run.say("identify.help")


def _stage_ask_dob(run: _Run, inp: Inbound) -> None:
    if inp.kind == InputKind.CHOICE:
        run.ask(prefix=run.t("answer.stale_button"))
        return
    if run.locked():
        return
    kw, _ = keyword(inp.text)
    if kw == "back":
        run.s.pop("nisn", None)
        run.s["stage"] = "ask_id"
        run.ask()
        return
    found = find_identity(inp.text, run.today())
    if found.nisn and found.dob:  # the NISN again, with the date: "0071234501 14-03-2007"
        run.s["nisn"] = found.nisn
    dob = _read_dob(run, inp.text, found.dob if found.nisn else None)
    if not isinstance(dob, date):
        run.say(_DATE_PROBLEMS[dob])
        return
    run.s["pending"] = "nisn"
    run.effect(Lookup("nisn", nisn=run.s.get("nisn"), dob=dob))


def _read_dob(run: _Run, text: str, found: date | None = None) -> date | str:
    """A birth date: the message read as a date (a problem code from `read_date` when it is
    not one), else a date inside a sentence ("lahir saya 14-03-2007 kak", or `found`), held to
    the same plausible age."""
    dob = read_date(text, run.today())
    if isinstance(dob, date):
        return dob
    found = found or find_date(text, run.today())
    if found is None:
        return dob
    return read_date(found.isoformat(), run.today())


_DATE_PROBLEMS = {
    "unreadable": "identify.bad_date",
    "no_year": "identify.date_no_year",
    "impossible": "identify.date_impossible",
    "implausible": "identify.date_implausible",
}


def _stage_verify_dob(run: _Run, inp: Inbound) -> None:
    if inp.kind == InputKind.CHOICE:
        run.ask(prefix=run.t("answer.stale_button"))
        return
    if run.locked():
        return
    aliases = run.aliases("confirm", list(_BINARY["confirm"]))
    if _read_binary(run, inp.text, "confirm", aliases) == "bukan":  # "bukan", "bukan saya kak"
        run.s.pop("candidate", None)
        run.s["stage"] = "ask_id"
        run.say("identify.not_me")
        return
    dob = _read_dob(run, inp.text)
    if not isinstance(dob, date):
        run.say(_DATE_PROBLEMS[dob])
        return
    run.s["pending"] = "dob"
    run.effect(Lookup("dob", dob=dob, alumnus_id=(run.s.get("candidate") or {}).get("id")))


def _stage_confirm(run: _Run, inp: Inbound) -> None:
    code = _choice(run, inp, Q_CONFIRM, "confirm")
    if code is None:
        return
    if code == "bukan":
        run.s.pop("candidate", None)
        run.s.pop("code", None)
        run.s["stage"] = "ask_id"
        run.say("identify.not_me")
        return
    _link(run)


def _link(run: _Run) -> None:
    candidate = run.s.pop("candidate")
    run.s["alumnus"] = candidate
    for key in ("code", "nisn", "failures", "pending"):
        run.s.pop(key, None)
    run.effect(Link(int(candidate["id"]), run.s.get("consent_at") or run.ctx.now.isoformat()))
    run.s["stage"] = "vacancies"
    run.ask()


def _stage_vacancies(run: _Run, inp: Inbound) -> None:
    code = _choice(run, inp, Q_VACANCIES, "yes_no")
    if code is None:
        return
    run.effect(VacancyConsent(code == "ya"))
    run.begin_questionnaire()


def _on_lookup(run: _Run, result: LookupResult) -> None:
    pending = run.s.pop("pending", None)
    if pending is None:
        run.ask()
        return
    if pending == "phone":
        if result.found and result.alumnus:
            run.s["candidate"] = result.alumnus
            run.s["stage"] = "verify_dob"
        else:
            run.s["stage"] = "ask_id"
        run.ask()
        return
    if not result.found or not result.alumnus:
        run.s.pop("code", None)
        run.fail_identity()  # its message already asks for the code or NISN again
        return
    run.s["candidate"] = result.alumnus
    run.s.pop("nisn", None)
    if pending == "dob":
        _link(run)
    elif pending == "code" and result.needs_dob:
        run.s["stage"] = "verify_dob"
        run.ask()
    else:
        run.s["stage"] = "confirm"
        run.ask()


def _stage_done(run: _Run, inp: Inbound) -> None:
    if inp.kind == InputKind.CHOICE:
        run.say("done.already")
        return
    run.say("done.already")


def _stage_confirm_delete(run: _Run, inp: Inbound) -> None:
    back_to = run.s.pop("return_stage", "new")
    yes = inp.kind == InputKind.TEXT and norm(inp.text) in (
        "ya",
        "iya",
        "y",
        "yes",
        "hapus",
        "ya hapus",
        "delete",
    )
    if yes:
        run.reset("deleted")
        run.effect(DeleteData())
        run.say("delete.done")
        return
    run.s["stage"] = back_to
    if back_to == "new":
        run.say("delete.cancelled")
    else:
        run.ask(prefix=run.t("delete.cancelled"))


# ---- the questionnaire proper ----
def _stage_q(run: _Run, inp: Inbound) -> None:
    node = run.flow.node(run.s["node"])
    options = run.flow.options(node.choices, run.lang) if node.choices else ()
    if inp.kind == InputKind.CHOICE:
        if inp.question != node.id:
            run.ask(prefix=run.t("answer.stale_button"))
            return
        if node.type == "multi":
            _multi_tap(run, node, options, inp.value or "")
            return
        picked = next((o for o in options if o.code == inp.value), None)
        if picked is None:
            run.ask(prefix=run.t("answer.stale_button"))
            return
        run.out.chosen_label = picked.label
        _advance(run, node, picked.code)
        return

    kw, _ = keyword(inp.text)
    if kw == "back":
        _back(run)
        return
    if kw == "skip":
        if node.required:
            run.ask(prefix=run.t("answer.required"))
        else:
            _advance(run, node, None)
        return

    if node.type == "text":
        if _SLASH_WORD.fullmatch(inp.text.strip()):  # "/ringkasan": a command, not an answer
            run.ask(prefix=run.t("answer.unknown_command"))
            return
        value = clean_text(inp.text, TEXT_MAX)
        if value is None:
            run.ask(prefix=run.t("answer.empty_text", max=TEXT_MAX))
            return
        _advance(run, node, value)
    elif node.type == "month":
        _month(run, node, inp.text)
    elif node.type == "choice":
        aliases = run.aliases(node.choices, [o.code for o in options])
        read = _read_binary(run, inp.text, node.choices, aliases)
        if read == BOTH:
            run.ask(prefix=run.t("answer.yes_and_no"))
            return
        if read is not None:
            _advance(run, node, read)
            return
        m = match_choice(inp.text, options, aliases, run.flow.ranges.get(node.choices))
        if m.code is None:
            _invalid_choice(run, options, m)
            return
        _advance(run, node, m.code)
    else:  # multi
        done_aliases = run.flow.catalogue.aliases(f"alias.multi.{MULTI_DONE}", run.lang)
        if norm(inp.text) in {norm(a) for a in done_aliases}:
            _multi_tap(run, node, options, MULTI_DONE)
            return
        codes, bad = match_multi(
            inp.text, options, run.aliases(node.choices, [o.code for o in options])
        )
        if not codes or bad:
            _invalid_choice(run, options, Match(None))
            return
        _advance(run, node, codes)


def _multi_tap(run: _Run, node: Node, options: tuple[Option, ...], code: str) -> None:
    picked: list[str] = list(run.s.get("multi") or [])
    if code == MULTI_DONE:
        if not picked:
            run.ask(prefix=run.t("answer.multi_none"))
            return
        order = [o.code for o in options]
        _advance(run, node, sorted(picked, key=order.index))
        return
    if code not in {o.code for o in options}:
        run.ask(prefix=run.t("answer.stale_button"))
        return
    if code in picked:
        picked.remove(code)
    else:
        picked.append(code)
    run.s["multi"] = picked
    run.ask()


def _month(run: _Run, node: Node, text: str) -> None:
    parsed = read_month(text)
    if isinstance(parsed, str):
        no_year = parsed == "no_year"
        run.ask(prefix=run.t("answer.month_no_year" if no_year else "answer.bad_month"))
        return
    year, month = parsed
    local_now = run.ctx.now.astimezone(run.ctx.zone)
    if (year, month) > (local_now.year, local_now.month):
        run.ask(prefix=run.t("answer.month_future"))
        return
    grad_year = (run.s.get("alumnus") or {}).get("year")
    if isinstance(grad_year, int) and year < grad_year - 1:
        run.ask(prefix=run.t("answer.month_too_early", year=grad_year - 1))
        return
    _advance(run, node, format_month(year, month))


def _back(run: _Run) -> None:
    history: list[str] = run.s.get("history") or []
    if not history:
        run.ask(prefix=run.t("answer.cannot_go_back"))
        return
    run.s["node"] = history.pop()
    run.s["history"] = history
    run.s["multi"] = []
    _prune(run)
    run.ask()


def _prune(run: _Run) -> None:
    """Keep only answers of the nodes on the path taken (a changed branch drops the old one)."""
    fields = {run.flow.node(n).field for n in run.s.get("history") or []}
    run.s["answers"] = {k: v for k, v in (run.s.get("answers") or {}).items() if k in fields}


def _advance(run: _Run, node: Node, value: Any) -> None:
    answers = dict(run.s.get("answers") or {})
    if value is None:
        answers.pop(node.field, None)
    else:
        answers[node.field] = value
    run.s["answers"] = answers
    run.s["history"] = [*(run.s.get("history") or []), node.id]
    run.s["multi"] = []
    _prune(run)
    nxt = node.successor(value)
    if nxt == END:
        run.s["stage"] = "done"
        run.s.pop("node", None)
        run.effect(Complete(run.s["answers"].get("status")))
        run.say("done.thanks")
        return
    run.s["node"] = nxt
    run.ask()


def reopen_status(
    flow: Flow, state: dict[str, Any], ctx: Context, prefix: str | None = None
) -> Step:
    """Start a new pass at the status question (follow-ups, staff re-open). Pure, like `step`."""
    run = _Run(flow, state, ctx)
    if not run.s.get("alumnus"):
        run.ask()
        return run.out
    run.begin_questionnaire(prefix)
    return run.out


def current_prompt(flow: Flow, state: dict[str, Any], ctx: Context) -> Reply:
    """The question the person is at now (for reminders and re-sends)."""
    return _Run(flow, state, ctx).prompt()


_STAGES = {
    "new": _stage_new,
    "consent": _stage_consent,
    "refused": _stage_refused,
    "deleted": _stage_deleted,
    "ask_id": _stage_ask_id,
    "ask_dob": _stage_ask_dob,
    "verify_dob": _stage_verify_dob,
    "confirm": _stage_confirm,
    "vacancies": _stage_vacancies,
    "q": _stage_q,
    "done": _stage_done,
    "confirm_delete": _stage_confirm_delete,
}
