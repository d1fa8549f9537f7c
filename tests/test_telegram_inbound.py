"""Telegram update -> channel-neutral event (no network)."""

from telegram import Update

from bot.channels.telegram import to_inbound
from conversations.types import InputKind


def _update(update_id: int, text: str) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "Budi"},
                "text": text,
            },
        },
        None,
    )


def test_idempotency_key_is_per_bot():
    """Update ids are counted per bot: the same id from two bots is two different updates."""
    a = to_inbound(_update(1000, "halo"), bot_id=111)
    b = to_inbound(_update(1000, "halo"), bot_id=222)
    assert a.external_id == "111:1000" and b.external_id == "222:1000"
    assert to_inbound(_update(1000, "halo"), bot_id=111).external_id == a.external_id


def test_start_with_code_and_group_chats():
    start = to_inbound(_update(1, "/start ABCD234XYZ"), bot_id=1)
    assert start.kind == InputKind.START and start.value == "ABCD234XYZ"
    group = Update.de_json(
        {
            "update_id": 2,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": -5, "type": "group", "title": "XII TKJ 1"},
                "from": {"id": 42, "is_bot": False, "first_name": "Budi"},
                "text": "halo",
            },
        },
        None,
    )
    assert to_inbound(group, bot_id=1) is None
