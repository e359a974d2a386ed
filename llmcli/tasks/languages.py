"""Language names and codes through langcodes (CLDR and IANA data), not a hand-written table.

`pt`, `pt-BR`, `por`, `Portuguese`, `português`, `Brazilian Portuguese` all resolve; an
unknown name is an error that suggests the closest known names.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmcli.errors import UsageError


@dataclass(frozen=True)
class Lang:
    tag: str  # BCP 47, e.g. "pt-BR"
    name: str  # English name for the prompt, e.g. "Portuguese (Brazil)"
    autonym: str  # the language's name for itself, e.g. "português (Brasil)"

    @property
    def base(self) -> str:
        return self.tag.split("-")[0]


def resolve_language(query: str, *, option: str = "--to") -> Lang:
    """A language from a code or a name in any language; UsageError with suggestions."""
    text = query.strip()
    known = _common().get(text.lower())
    if known is not None:  # `--to pt` in a script loop: no langcodes (~85 ms of import)
        return Lang(tag=text.lower(), name=known[0], autonym=known[1])
    import langcodes

    if not text:
        raise UsageError(f"{option} needs a language, e.g. pt, pt-BR, Portuguese or português")
    found: Any = _from_tag(text)
    if found is None:
        try:
            found = langcodes.find(text)
        except LookupError:
            plain = _known_names().get(_fold(text))  # "portugues" for "português"
            found = langcodes.get(plain) if plain else None
    if found is None or not found.language or found.language in ("und", "zxx", "mul"):
        close = suggestions(text)
        hint = f"did you mean {', '.join(close)}?" if close else "use a code like pt or a name"
        raise UsageError(f"unknown language {query!r} for {option}", hint=hint)
    tag = found.to_tag()
    return Lang(tag=tag, name=found.display_name(), autonym=found.autonym())


@lru_cache(maxsize=1)
def _common() -> dict[str, list[str]]:
    """code -> [English name, autonym] for CLDR's well-supported languages, as langcodes
    gives them (`languages.json`, checked against langcodes by tests/test_languages.py)."""
    import json
    from importlib import resources

    text = (resources.files("llmcli.tasks") / "languages.json").read_text(encoding="utf-8")
    table: dict[str, list[str]] = json.loads(text)
    return table


def _from_tag(text: str) -> Any:
    """A well-formed, registered tag (`pt`, `pt-BR`, `por`), else None."""
    import langcodes

    if not text.replace("-", "").replace("_", "").isascii() or " " in text:
        return None
    try:
        lang = langcodes.get(text.replace("_", "-"))
    except (ValueError, LookupError):
        return None
    if not lang.is_valid() or not lang.language:
        return None
    if lang.display_name().startswith("Unknown language"):
        return None
    return lang


def _fold(text: str) -> str:
    """Casefolded, without accents: how people type names on any keyboard."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _known_names() -> dict[str, str]:
    """Folded name -> tag, for CLDR's well-supported languages, in English and natively."""
    import langcodes
    from language_data.language_lists import CLDR_LANGUAGES

    names: dict[str, str] = {}
    for code in sorted(CLDR_LANGUAGES):
        lang = langcodes.get(code)
        names.setdefault(_fold(lang.autonym()), code)
        names[_fold(lang.display_name())] = code  # the English name wins a clash
    return names


def suggestions(query: str, n: int = 3) -> list[str]:
    """Closest known languages, as `Name (code)`, one per language."""
    import langcodes

    names = _known_names()
    close = difflib.get_close_matches(_fold(query), list(names), n=n * 2, cutoff=0.6)
    out: dict[str, str] = {}
    for name in close:
        code = names[name]
        out.setdefault(code, f"{langcodes.get(code).display_name()} ({code})")
    return list(out.values())[:n]
