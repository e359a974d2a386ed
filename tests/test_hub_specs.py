"""Spec parsing and quant selection: pure functions, no files, no network."""

from __future__ import annotations

import pytest

from llmcli.errors import ModelNotFoundError
from llmcli.models.specs import (
    HubSpec,
    RepoFile,
    default_group,
    group_files,
    looks_like_hub_spec,
    parse_hub_spec,
    quant_of,
    select_group,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("owner/repo", HubSpec("owner/repo")),
        ("owner/repo:q4_k_m", HubSpec("owner/repo", "Q4_K_M")),
        ("hf.co/owner/repo:Q8_0", HubSpec("owner/repo", "Q8_0")),
        ("huggingface.co/owner/Repo.v2-GGUF", HubSpec("owner/Repo.v2-GGUF")),
        ("https://huggingface.co/owner/repo:IQ4_XS", HubSpec("owner/repo", "IQ4_XS")),
        ("owner/repo/sub/m-Q4_K_M.gguf", HubSpec("owner/repo", None, "sub/m-Q4_K_M.gguf")),
    ],
)
def test_spec_forms(spec: str, expected: HubSpec) -> None:
    assert parse_hub_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "owner",
        "owner/",
        "/repo",
        "own er/repo",
        "owner/repo:",
        "owner/repo:Q4 K",
        "o/r/x.bin",
        "o/r/../x.gguf",
        "o/r/f.gguf:Q4_0",
        "o--x/r",
        "o/r.",
    ],
)
def test_bad_specs_exit_3_naming_the_forms(spec: str) -> None:
    with pytest.raises(ModelNotFoundError, match="not a valid model spec") as info:
        parse_hub_spec(spec)
    assert info.value.exit_code == 3
    assert "owner/repo" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("spec", "hub"),
    [
        ("owner/repo", True),
        ("owner/repo:Q4_0", True),
        ("hf.co/a/b", True),
        ("a/b/c.gguf", True),
        ("./a/b", False),
        ("/abs/model.gguf", False),
        ("~/m.gguf", False),
        ("models/m.gguf", False),  # a relative path, not a repo named m.gguf
        ("model.gguf", False),
        ("smollm2", False),
    ],
)
def test_hub_spec_or_path(spec: str, hub: bool) -> None:
    assert looks_like_hub_spec(spec) is hub


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("Llama-3-8B-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"),
        ("sub/Model-IQ2_XXS.gguf", "IQ2_XXS"),
        ("model-f16.gguf", "F16"),
        ("model-bf16.gguf", "BF16"),
        ("Qwen3-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
        ("Q2-model-Q8_0.gguf", "Q8_0"),  # the last quant-like word wins
        ("plain-model.gguf", "plain-model"),
    ],
)
def test_quant_from_file_name(name: str, quant: str) -> None:
    assert quant_of(name) == quant


def _files(*names: str, size: int = 100) -> list[RepoFile]:
    return [RepoFile(n, size) for n in names]


def test_split_parts_form_one_group_with_summed_size() -> None:
    groups = group_files(
        _files(
            "m-Q4_K_M-00002-of-00003.gguf",
            "m-Q4_K_M-00001-of-00003.gguf",
            "m-Q4_K_M-00003-of-00003.gguf",
            "m-Q8_0.gguf",
            "README.md",
        )
    )
    assert [g.quant for g in groups] == ["Q4_K_M", "Q8_0"]
    split = groups[0]
    assert split.first == "m-Q4_K_M-00001-of-00003.gguf"
    assert split.size == 300 and split.complete


def test_missing_part_makes_a_group_incomplete() -> None:
    (group,) = group_files(_files("m-Q4_0-00001-of-00002.gguf"))
    assert not group.complete


def test_mmproj_and_imatrix_files_are_not_models() -> None:
    groups = group_files(_files("mmproj-model-f16.gguf", "model.imatrix.gguf", "model-Q4_0.gguf"))
    assert [g.first for g in groups] == ["model-Q4_0.gguf"]


def test_default_is_q4_k_m() -> None:
    groups = group_files(_files("m-Q8_0.gguf", "m-Q4_K_M.gguf", "m-Q2_K.gguf"))
    assert default_group(groups).quant == "Q4_K_M"  # type: ignore[union-attr]


def test_default_follows_preference_when_q4_k_m_is_absent() -> None:
    groups = group_files(_files("m-F16.gguf", "m-Q8_0.gguf", "m-Q5_K_M.gguf", "m-Q2_K.gguf"))
    assert default_group(groups).quant == "Q5_K_M"  # type: ignore[union-attr]
    groups = group_files(_files("m-F16.gguf", "m-Q2_K.gguf"))
    assert default_group(groups).quant == "Q2_K"  # type: ignore[union-attr]


def test_default_among_unknown_names_is_the_smallest() -> None:
    groups = group_files([RepoFile("big.gguf", 900), RepoFile("small.gguf", 10)])
    assert default_group(groups).first == "small.gguf"  # type: ignore[union-attr]


def test_quant_is_case_insensitive_and_ud_prefix_optional() -> None:
    groups = group_files(_files("m-Q4_K_M.gguf", "m-UD-Q4_K_XL.gguf"))
    assert select_group(groups, parse_hub_spec("o/r:q4_k_m")).first == "m-Q4_K_M.gguf"
    assert select_group(groups, parse_hub_spec("o/r:Q4_K_XL")).first == "m-UD-Q4_K_XL.gguf"


def test_quant_matching_nothing_lists_the_quants() -> None:
    groups = group_files(_files("m-Q4_K_M.gguf", "m-Q8_0.gguf"))
    with pytest.raises(ModelNotFoundError, match="no Q5_0 quant") as info:
        select_group(groups, parse_hub_spec("o/r:Q5_0"))
    assert info.value.hint == "available: Q4_K_M, Q8_0"


def test_quant_matching_several_files_names_them() -> None:
    groups = group_files(_files("a-Q4_0.gguf", "b-Q4_0.gguf"))
    with pytest.raises(ModelNotFoundError, match="matches 2 files") as info:
        select_group(groups, parse_hub_spec("o/r:Q4_0"))
    assert "a-Q4_0.gguf" in info.value.message and "b-Q4_0.gguf" in info.value.message
    assert "o/r/a-Q4_0.gguf" in (info.value.hint or "")


def test_exact_file_and_missing_file() -> None:
    groups = group_files(_files("x/m-Q4_0.gguf", "m-Q8_0.gguf"))
    assert select_group(groups, parse_hub_spec("o/r/x/m-Q4_0.gguf")).quant == "Q4_0"
    with pytest.raises(ModelNotFoundError, match="no file"):
        select_group(groups, parse_hub_spec("o/r/nope.gguf"))


def test_repo_without_gguf() -> None:
    with pytest.raises(ModelNotFoundError, match="has no GGUF model files"):
        select_group(group_files(_files("model.safetensors")), parse_hub_spec("o/r"))
