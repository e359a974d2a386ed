"""Model specs and quant selection: pure functions over names, no I/O.

A Hub spec is `owner/repo`, `owner/repo:QUANT`, `owner/repo/path/file.gguf`, any of them
prefixed with `hf.co/` (or `huggingface.co/`). A repo's GGUF files are grouped by quant (the
parts of a split file form one group) and one group is chosen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llmcli.errors import ModelNotFoundError

DEFAULT_QUANT = "Q4_K_M"
# When a repo has no Q4_K_M: good quality per byte first, then bigger, then smaller quants.
QUANT_PREFERENCE = (
    "Q4_K_M",
    "Q4_K_S",
    "Q5_K_M",
    "Q5_K_S",
    "Q4_0",
    "Q4_1",
    "IQ4_XS",
    "IQ4_NL",
    "Q6_K",
    "Q8_0",
    "Q5_0",
    "Q5_1",
    "Q3_K_L",
    "Q3_K_M",
    "IQ3_M",
    "Q3_K_S",
    "IQ3_XS",
    "IQ3_XXS",
    "Q2_K",
    "IQ2_M",
    "IQ2_S",
    "IQ2_XS",
    "IQ2_XXS",
    "IQ1_M",
    "IQ1_S",
    "BF16",
    "F16",
    "F32",
)
HUB_PREFIXES = ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/")
SPEC_FORMS = (
    "owner/repo[:QUANT], owner/repo/path/file.gguf, hf.co/owner/repo:QUANT, a path, or an alias"
)

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_REPO_RE = re.compile(rf"^({_NAME})/({_NAME})$")
_SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|MXFP4(?:_MOE)?|BF16|F16|F32|FP16|FP32))"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SKIP_WORDS = ("mmproj", "imatrix")  # vision projectors and importance matrices: not the LM


@dataclass(frozen=True)
class HubSpec:
    repo: str  # owner/name
    quant: str | None = None  # upper-case, None = pick the default
    filename: str | None = None  # an exact file in the repo

    def __str__(self) -> str:
        if self.filename:
            return f"{self.repo}/{self.filename}"
        return f"{self.repo}:{self.quant}" if self.quant else self.repo


@dataclass(frozen=True)
class RepoFile:
    path: str  # path inside the repo
    size: int = 0


@dataclass(frozen=True)
class QuantGroup:
    """One loadable model in a repo: a single GGUF, or all parts of a split one."""

    quant: str
    files: tuple[RepoFile, ...]  # parts in order; the first is what llama.cpp opens

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def first(self) -> str:
        return self.files[0].path

    @property
    def complete(self) -> bool:
        """Every part of a split file is present."""
        match = _SPLIT_RE.search(self.first)
        return match is None or len(self.files) == int(match.group(2))


def looks_like_hub_spec(spec: str) -> bool:
    """Could this be a Hub spec rather than a local path? (no leading ./ / ~, has owner/)"""
    bare = _strip_prefix(spec)
    if bare != spec:
        return True
    if spec.startswith((".", "/", "~", "\\")) or "\\" in spec:
        return False
    head = spec.split(":", 1)[0]
    parts = head.split("/")
    if len(parts) == 2 and head.lower().endswith(".gguf"):
        return False  # dir/file.gguf is a path; a Hub file needs owner/repo/file.gguf
    return len(parts) >= 2 and _REPO_RE.match(f"{parts[0]}/{parts[1]}") is not None


def parse_hub_spec(spec: str) -> HubSpec:
    """`owner/repo[:QUANT]`, `owner/repo/path/file.gguf`, optionally `hf.co/`-prefixed."""
    bare = _strip_prefix(spec.strip())
    quant: str | None = None
    if ":" in bare:
        bare, quant = bare.rsplit(":", 1)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", quant):
            raise _bad_spec(spec)
        quant = quant.upper()
    parts = bare.strip("/").split("/")
    if len(parts) < 2 or not _REPO_RE.match(f"{parts[0]}/{parts[1]}"):
        raise _bad_spec(spec)
    repo = f"{parts[0]}/{parts[1]}"
    if repo.endswith((".", "-")) or ".." in repo or "--" in repo:
        raise _bad_spec(spec)
    if len(parts) == 2:
        return HubSpec(repo, quant)
    filename = "/".join(parts[2:])
    if quant or not filename.lower().endswith(".gguf") or ".." in parts[2:] or "" in parts[2:]:
        raise _bad_spec(spec)
    return HubSpec(repo, None, filename)


def _strip_prefix(spec: str) -> str:
    for prefix in HUB_PREFIXES:
        if spec.lower().startswith(prefix):
            return spec[len(prefix) :]
    return spec


def _bad_spec(spec: str) -> ModelNotFoundError:
    return ModelNotFoundError(f"not a valid model spec: {spec!r}", hint=f"use {SPEC_FORMS}")


def quant_of(path: str) -> str:
    """The quant named in a file name (`...-Q4_K_M.gguf` -> Q4_K_M), else the file's stem."""
    name = _SPLIT_RE.sub(".gguf", path.rsplit("/", 1)[-1])
    stem = name[: -len(".gguf")] if name.lower().endswith(".gguf") else name
    found = _QUANT_RE.findall(stem)
    return found[-1].upper() if found else stem


def is_model_file(path: str) -> bool:
    """A GGUF language model file (not a vision projector or imatrix)."""
    name = path.rsplit("/", 1)[-1].lower()
    return name.endswith(".gguf") and not any(word in name for word in _SKIP_WORDS)


def group_files(files: Iterable[RepoFile]) -> list[QuantGroup]:
    """GGUF files grouped into loadable models; split parts are joined under their first."""
    groups: dict[str, list[RepoFile]] = {}
    for f in files:
        if is_model_file(f.path):
            groups.setdefault(_SPLIT_RE.sub("", f.path) or f.path, []).append(f)
    result = [
        QuantGroup(quant_of(k), tuple(sorted(v, key=lambda f: f.path))) for k, v in groups.items()
    ]
    return sorted(result, key=lambda g: (_rank(g.quant), g.first))


def _rank(quant: str) -> int:
    bare = quant.removeprefix("UD-")
    return QUANT_PREFERENCE.index(bare) if bare in QUANT_PREFERENCE else len(QUANT_PREFERENCE)


def default_group(groups: Sequence[QuantGroup]) -> QuantGroup | None:
    """Q4_K_M, else the first of QUANT_PREFERENCE present, else the smallest file."""
    if not groups:
        return None
    ranked = sorted(groups, key=lambda g: (_rank(g.quant), g.size, g.first))
    return ranked[0]


def select_group(groups: Sequence[QuantGroup], spec: HubSpec) -> QuantGroup:
    """The one group a spec names. Raises ModelNotFoundError listing what exists."""
    if not groups:
        raise ModelNotFoundError(
            f"{spec.repo} has no GGUF model files",
            hint="llm runs GGUF weights; look for a repo whose name ends in -GGUF",
        )
    if spec.filename:
        for group in groups:
            if spec.filename in (f.path for f in group.files):
                return group
        raise ModelNotFoundError(
            f"{spec.repo} has no file {spec.filename!r}", hint=f"files: {_files_list(groups)}"
        )
    if spec.quant is None:
        best = default_group(groups)
        assert best is not None
        matches = [g for g in groups if g.quant == best.quant]
    else:
        matches = [g for g in groups if g.quant in (spec.quant, f"UD-{spec.quant}")]
    if not matches:
        raise ModelNotFoundError(
            f"{spec.repo} has no {spec.quant} quant", hint=f"available: {quants_list(groups)}"
        )
    if len(matches) > 1:
        raise ModelNotFoundError(
            f"{spec} matches {len(matches)} files in {spec.repo}: {_files_list(matches)}",
            hint=f"name one: {spec.repo}/{matches[0].first}",
        )
    return matches[0]


def quants_list(groups: Sequence[QuantGroup]) -> str:
    return ", ".join(dict.fromkeys(g.quant for g in groups))


def _files_list(groups: Sequence[QuantGroup]) -> str:
    return ", ".join(g.first for g in groups)
