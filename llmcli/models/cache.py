"""The standard Hugging Face cache, read and pruned without network or huggingface_hub.

Layout (shared with every other HF tool):
  <cache>/models--owner--name/refs/<revision>          -> commit hash
  <cache>/models--owner--name/snapshots/<commit>/<file> -> symlink to ../../blobs/<etag>
  <cache>/models--owner--name/blobs/<etag>
Downloads are written by huggingface_hub (temp file + atomic rename), so a snapshot entry
whose blob exists is complete. One `HFCache` (where it is, whether we are offline) is built
per command from the environment, as huggingface_hub itself reads it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from llmcli.config import atomic_write_text
from llmcli.errors import ModelNotFoundError
from llmcli.models.specs import (
    HubSpec,
    QuantGroup,
    RepoFile,
    default_group,
    group_files,
    select_group,
)

_TRUE = ("1", "true", "yes", "on")


def hub_cache_dir(environ: Mapping[str, str]) -> Path:
    """HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub (as the library)."""
    if environ.get("HF_HUB_CACHE"):
        return Path(os.path.expanduser(environ["HF_HUB_CACHE"]))
    home = environ.get("HF_HOME") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(os.path.expanduser(home)) / "hub"


@dataclass(frozen=True)
class CachedModel:
    repo: str
    commit: str
    group: QuantGroup
    snapshot: Path

    @property
    def paths(self) -> list[Path]:
        return [self.snapshot / f.path for f in self.group.files]

    @property
    def spec(self) -> str:
        return f"{self.repo}:{self.group.quant}"


@dataclass(frozen=True)
class HFCache:
    root: Path
    offline: bool = False  # HF_HUB_OFFLINE: the cache is the only source

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HFCache:
        offline = environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE
        return cls(hub_cache_dir(environ), offline)

    def repo_dir(self, repo: str) -> Path:
        return self.root / ("models--" + repo.replace("/", "--"))

    def snapshots(self, repo: str, revision: str | None = None) -> list[Path]:
        """Snapshot folders of a repo: the one `revision` points to first, then newest first."""
        snap_root = self.repo_dir(repo) / "snapshots"
        if not snap_root.is_dir():
            return []
        found = sorted((p for p in snap_root.iterdir() if p.is_dir()), key=_mtime, reverse=True)
        ref = self.read_ref(repo, revision or "main")
        if ref is not None:
            found.sort(key=lambda p: p.name != ref)  # stable: keeps newest-first otherwise
        if revision and revision != "main":
            found = [p for p in found if p.name in (ref, revision)]
        return found

    def read_ref(self, repo: str, revision: str) -> str | None:
        ref = self.repo_dir(repo) / "refs" / revision
        try:
            return ref.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def write_ref(self, repo: str, revision: str, commit: str) -> None:
        """Record revision -> commit, so offline lookups find the snapshot (atomic write)."""
        if revision != commit:
            atomic_write_text(self.repo_dir(repo) / "refs" / revision, commit)

    def models(self, repo: str, revision: str | None = None) -> list[CachedModel]:
        """Every complete GGUF of a repo in the cache, best snapshot first, one per file name."""
        seen: set[str] = set()
        result: list[CachedModel] = []
        for snap in self.snapshots(repo, revision):
            for group in snapshot_groups(snap):
                if group.first not in seen:
                    seen.add(group.first)
                    result.append(CachedModel(repo, snap.name, group, snap))
        return result

    def all(self) -> Iterator[CachedModel]:
        """Every cached GGUF model in the cache, repo by repo."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.glob("models--*--*")):
            repo = folder.name.removeprefix("models--").replace("--", "/", 1)
            yield from self.models(repo)

    def find(self, spec: HubSpec, revision: str | None = None) -> CachedModel | None:
        """The cached model a spec names, without any network call; None when not cached."""
        models = self.models(spec.repo, revision)
        if not models:
            return None
        groups = [m.group for m in models]
        if spec.quant is None and spec.filename is None:
            best = default_group(groups)
            return next(m for m in models if m.group == best)
        try:
            chosen = select_group(groups, spec)
        except ModelNotFoundError:
            return None  # this quant is not cached (the Hub may have it)
        return next(m for m in models if m.group == chosen)

    def remove(self, models: list[CachedModel]) -> int:
        """Delete these models' snapshot links and the blobs nothing else uses; bytes freed."""
        freed = 0
        blobs: dict[Path, int] = {}
        for model in models:
            for path in model.paths:
                for link in _links_to_same_file(model.snapshot.parent, path):
                    if link.is_symlink():
                        blobs[link.resolve()] = _size(link)
                    else:  # a cache without symlinks holds copies in the snapshot
                        freed += _size(link)
                    link.unlink(missing_ok=True)
        for repo in {m.repo for m in models}:
            base = self.repo_dir(repo)
            still_used = {p.resolve() for p in (base / "snapshots").rglob("*") if p.is_symlink()}
            for blob, size in blobs.items():
                if blob not in still_used and base in blob.parents and blob.is_file():
                    blob.unlink()
                    freed += size
            _prune(base)
        return freed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def snapshot_groups(snapshot: Path) -> list[QuantGroup]:
    """The complete GGUF models in one snapshot (parts whose blob is missing do not count)."""
    files = [
        RepoFile(p.relative_to(snapshot).as_posix(), _size(p))
        for p in sorted(snapshot.rglob("*"))
        if p.is_file()  # follows the symlink: False when the blob is gone
    ]
    return [g for g in group_files(files) if g.complete]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _links_to_same_file(snap_root: Path, path: Path) -> list[Path]:
    """The same repo path in every snapshot of the repo (a model is removed, not one commit)."""
    rel = path.relative_to(snap_root).parts[1:]
    return [
        snap.joinpath(*rel) for snap in snap_root.iterdir() if os.path.lexists(snap.joinpath(*rel))
    ]


def _prune(base: Path) -> None:
    """Drop empty snapshot folders; drop the whole repo folder once no file is left."""
    snap_root = base / "snapshots"
    for folder in sorted(snap_root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    blobs = base / "blobs"
    has_blobs = blobs.is_dir() and any(blobs.iterdir())
    has_links = snap_root.is_dir() and any(snap_root.iterdir())
    if not has_blobs and not has_links:
        shutil.rmtree(base, ignore_errors=True)
