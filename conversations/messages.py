"""The message catalogue (conversations/messages.yaml): every bot line in Indonesian and English."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
_PATH = Path(__file__).with_name("messages.yaml")


class CatalogueError(ValueError):
    pass


class Catalogue:
    def __init__(self, entries: dict[str, dict[str, Any]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path = _PATH) -> Catalogue:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise CatalogueError(f"{path.name}: expected a mapping of message keys")
        entries: dict[str, dict[str, Any]] = {}
        for key, value in data.items():
            key = str(key)
            if not isinstance(value, dict):
                raise CatalogueError(f"{path.name}: message {key!r} must map languages to text")
            missing = [lang for lang in LANGUAGES if lang not in value]
            if missing:
                raise CatalogueError(f"{path.name}: message {key!r} lacks {', '.join(missing)}")
            entries[key] = value
        return cls(entries)

    def has(self, key: str) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        return list(self._entries)

    def raw(self, key: str, lang: str) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            raise KeyError(f"no message {key!r} in the catalogue")
        return entry.get(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)

    def t(self, key: str, lang: str, /, **params: Any) -> str:
        """The text of `key` in `lang`, with {placeholders} filled in."""
        text = str(self.raw(key, lang))
        return text.format(**params) if params else text

    def get(self, key: str, lang: str, default: str | None = None) -> str | None:
        return self.t(key, lang) if key in self._entries else default

    def aliases(self, key: str, lang: str) -> list[str]:
        """Aliases of a choice in `lang` plus the other language's (people mix languages)."""
        entry = self._entries.get(key)
        if entry is None:
            return []
        out: list[str] = []
        for code in (lang, *[x for x in LANGUAGES if x != lang]):
            out.extend(str(a) for a in entry.get(code) or [])
        return out


@lru_cache
def catalogue() -> Catalogue:
    return Catalogue.load()
