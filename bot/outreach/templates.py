"""The WhatsApp message templates Jejak sends: one definition each, the single source of truth
for the setting that names it, its body parameters (in {{1}}..{{n}} order, with what each
means) and its buttons.

WhatsApp lets a business write first, or more than 24 hours after the person's last message,
only with a template approved in WhatsApp Manager. An approved template has a fixed body with
numbered variables {{1}}..{{n}} and fixed buttons; a send must give exactly n body parameters,
and a quick-reply payload only for a quick-reply button the template has, or Meta refuses it
(132000). So what the code sends and what the operator creates must agree:

- the payload builders (`bot.outreach.messages`, `bot.digest`) fill a template's parameters
  only through `TemplateDef.spec(...)`, by keyword, which puts them in this order and refuses a
  missing or unknown one;
- `bot.outreach.messages.window_template` takes the name from the setting named here
  (`for_purpose`) and the language from WHATSAPP_TEMPLATE_LANGUAGE (`LANGUAGE_SETTING`);
- docs/operator.md ("Message templates") and docs/outreach.md list the same parameters and
  buttons: tests/test_whatsapp_templates.py fails when they drift apart, and sends every
  template through the WhatsApp channel to the fake Graph API with the templates registered as
  the operator's guide describes them.

Every quick-reply button Jejak fills is required in the approved template, in this order (index
0 first); a template with no buttons here must be created without buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LANGUAGE_SETTING = "whatsapp_template_language"


@dataclass(frozen=True, slots=True)
class Param:
    key: str  # the keyword `TemplateDef.spec` takes
    meaning: str  # what the operator's guide calls it


@dataclass(frozen=True, slots=True)
class QuickReply:
    """A quick-reply button: its text is fixed in the approved template; Jejak sends the
    payload (the tap comes back with it, like a tap on the same button in a normal message)."""

    text: str  # the suggested (Indonesian) button text
    payload: str  # what Jejak sends as its payload, as shown in the guide


@dataclass(frozen=True, slots=True)
class TemplateDef:
    purpose: str  # the outbox purpose it stands in for
    setting: str  # the Settings field holding the approved template's name
    params: tuple[Param, ...]
    buttons: tuple[QuickReply, ...] = ()

    @property
    def env(self) -> str:
        """The setting's environment variable, e.g. WHATSAPP_TEMPLATE_VACANCY."""
        return self.setting.upper()

    def name(self, settings: Any) -> str:
        return getattr(settings, self.setting)

    def spec(self, *, buttons: Sequence[str] = (), **values: Any) -> dict[str, Any]:
        """The `template` part of an outbox payload: the body parameters in {{n}} order and the
        quick-reply payloads. Raises ValueError when a parameter or button is missing or extra
        (a programming error: the approved template would refuse the send)."""
        keys = [p.key for p in self.params]
        if set(values) != set(keys):
            raise ValueError(f"the {self.purpose} template takes {keys}, not {sorted(values)}")
        if len(buttons) != len(self.buttons):
            raise ValueError(
                f"the {self.purpose} template has {len(self.buttons)} quick-reply button(s), "
                f"not {len(buttons)}"
            )
        spec: dict[str, Any] = {"params": [str(values[k]) for k in keys]}
        if self.buttons:
            spec["buttons"] = [str(b) for b in buttons]
        return spec


REMINDER = TemplateDef(
    "reminder",
    "whatsapp_template_reminder",
    (Param("name", "graduate's full name"), Param("school", "school name")),
)
VACANCY = TemplateDef(
    "vacancy",
    "whatsapp_template_vacancy",
    (
        Param("position", "position"),
        Param("company", "company"),
        Param("location", "location"),
        Param("deadline", "application deadline (DD-MM-YYYY)"),
    ),
    (QuickReply("Saya berminat", "a:interest:<vacancy id>"),),
)
FOLLOWUP = TemplateDef(
    "followup",
    "whatsapp_template_followup",
    (Param("name", "graduate's full name"),),
)
DIGEST = TemplateDef(
    "digest",
    "whatsapp_template_digest",
    (Param("name", "staff member's name"), Param("summary", "one-line summary of their classes")),
)

TEMPLATES: tuple[TemplateDef, ...] = (REMINDER, VACANCY, FOLLOWUP, DIGEST)

# outbox purpose -> template. "notice" (staff notices; nothing in Jejak queues one yet) borrows
# the digest template: whoever queues a notice for WhatsApp must give it DIGEST.spec(...).
_BY_PURPOSE = {t.purpose: t for t in TEMPLATES} | {"notice": DIGEST}


def for_purpose(purpose: str) -> TemplateDef:
    """The template a row of this purpose is sent as outside the 24-hour window (the reminder
    template for an unknown purpose, as before)."""
    return _BY_PURPOSE.get(purpose, REMINDER)


__all__ = [
    "DIGEST",
    "FOLLOWUP",
    "LANGUAGE_SETTING",
    "REMINDER",
    "TEMPLATES",
    "VACANCY",
    "Param",
    "QuickReply",
    "TemplateDef",
    "for_purpose",
]
