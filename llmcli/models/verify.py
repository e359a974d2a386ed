"""Cached model files checked against the hash the Hub gave for them.

huggingface_hub names each blob in the cache after the file's ETag, and for an LFS file
(every GGUF) that ETag, sent as `X-Linked-Etag`, is its sha256; a small git file's is its git
blob sha1. The library does not check the bytes against it, so a download corrupted in a way
that keeps the GGUF header valid, or a tampered mirror, would be used. We re-hash each file
after it is downloaded (`ModelStore.pull`) and on `llm models verify`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from llmcli.models.cache import CachedModel
from llmcli.models.hub import NullProgress, Progress

_BLOCK = 8 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class FileCheck:
    path: Path  # the file as the snapshot names it
    size: int
    algorithm: str | None  # "sha256" | "git-sha1" | None: the cache recorded no hash
    expected: str | None
    actual: str | None

    @property
    def ok(self) -> bool | None:
        """True: matches; False: does not; None: nothing to compare with."""
        if self.expected is None:
            return None
        return self.actual == self.expected

    @property
    def status(self) -> str:
        return {True: "ok", False: "MISMATCH", None: "no recorded hash"}[self.ok]


def recorded_hash(path: Path) -> tuple[str, str] | None:
    """(algorithm, hex digest) the cache recorded for a file: its blob's name."""
    name = path.resolve().name
    if _SHA256.fullmatch(name):
        return "sha256", name
    if _SHA1.fullmatch(name):
        return "git-sha1", name
    return None


def check_file(path: Path, progress: Progress) -> FileCheck:
    """Hash one file (advancing `progress` by its bytes) and compare with the record."""
    size = path.stat().st_size
    recorded = recorded_hash(path)
    if recorded is None:
        progress.advance(size)
        return FileCheck(path, size, None, None, None)
    algorithm, expected = recorded
    digest = hashlib.sha256() if algorithm == "sha256" else hashlib.sha1()
    if algorithm == "git-sha1":
        digest.update(f"blob {size}\0".encode())
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
            progress.advance(len(block))
    return FileCheck(path, size, algorithm, expected, digest.hexdigest())


def check_model(model: CachedModel, progress: Progress | None = None) -> list[FileCheck]:
    """Every part of a cached model, with one progress bar over all of them."""
    progress = progress or NullProgress()
    progress.start(model.spec, model.group.size)
    try:
        return [check_file(path, progress) for path in model.paths]
    finally:
        progress.stop()


def mismatch_line(check: FileCheck) -> str:
    return (
        f"{check.path.name}: {check.algorithm} is {check.actual}, the Hub recorded {check.expected}"
    )
