"""The records of a translation run (tasks/translate.py): pieces of a document in order,
what one (maybe fanned-out) call gives back, and a worker's warnings kept for the caller."""

from __future__ import annotations

from dataclasses import dataclass

from llmcli.engine import Stats


class Collect(list[str]):
    """A worker's warnings, kept to be given on the caller's thread in input order."""

    def __call__(self, message: str) -> None:
        self.append(message)


@dataclass(frozen=True)
class Piece:
    """Document text in order: a unit to translate, or text kept as it is."""

    text: str
    translate: bool = False
    ends_block: bool = False  # the last piece of a paragraph (for the progress count)


@dataclass(frozen=True)
class Done:
    """What one call of a (maybe fanned-out) run gives back: rows by number, its record."""

    rows: dict[int, str]
    calls: list[Stats]
    warnings: list[str]
    batch: int
    model_calls: int = 0
