"""GGUF header checks run before llama.cpp ever sees a file."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from llmcli.engine.gguf import read_gguf
from llmcli.errors import ModelLoadError


def _gguf(kv: dict[str, str], version: int = 3) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", version, 0, len(kv))
    for key, value in kv.items():
        k, v = key.encode(), value.encode()
        out += struct.pack("<Q", len(k)) + k + struct.pack("<I", 8)
        out += struct.pack("<Q", len(v)) + v
    return out


def test_reads_metadata_of_a_minimal_file(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(_gguf({"general.architecture": "llama", "tokenizer.chat_template": "x"}))
    info = read_gguf(path)
    assert info.architecture == "llama"
    assert info.chat_template == "x"
    assert info.version == 3


def test_text_file_named_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.gguf"
    path.write_text("hello, I am not a model\n")
    with pytest.raises(ModelLoadError, match="not a GGUF model file"):
        read_gguf(path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="not a GGUF"):
        read_gguf(path)


def test_unsupported_version(tmp_path: Path) -> None:
    path = tmp_path / "v9.gguf"
    path.write_bytes(_gguf({}, version=9))
    with pytest.raises(ModelLoadError, match="version 9"):
        read_gguf(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "t.gguf"
    path.write_bytes(_gguf({"general.architecture": "llama"})[:-3])
    with pytest.raises(ModelLoadError, match="truncated"):
        read_gguf(path)


def test_absurd_counts_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "c.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 60))
    with pytest.raises(ModelLoadError, match="corrupt"):
        read_gguf(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="directory"):
        read_gguf(tmp_path)


def test_bundled_model_header(bundled_model: Path) -> None:
    info = read_gguf(bundled_model)
    assert info.architecture == "llama"
    assert info.quant == "Q4_1"
    assert info.context_length == 8192
    assert info.chat_template is not None
    assert info.data_end == info.file_size


def test_truncated_real_model_is_refused(bundled_model: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with bundled_model.open("rb") as src:
        cut.write_bytes(src.read(bundled_model.stat().st_size // 2))
    with pytest.raises(ModelLoadError, match="truncated"):
        read_gguf(cut)


def _string_array(key: str, items: list[bytes]) -> bytes:
    k = key.encode()
    out = struct.pack("<Q", len(k)) + k + struct.pack("<IIQ", 9, 8, len(items))
    return out + b"".join(struct.pack("<Q", len(i)) + i for i in items)


def test_large_string_array_is_skipped_and_its_length_kept(tmp_path: Path) -> None:
    vocab = [f"tok{i}".encode() for i in range(1000)]
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + _string_array("tokenizer.ggml.tokens", vocab)
    arch = b"general.architecture"
    head += struct.pack("<Q", len(arch)) + arch + struct.pack("<IQ", 8, 5) + b"llama"
    path = tmp_path / "v.gguf"
    path.write_bytes(head)
    info = read_gguf(path)
    assert info.metadata["tokenizer.ggml.tokens"].length == 1000
    assert info.architecture == "llama"
    path.write_bytes(head[:200])  # cut inside the array
    with pytest.raises(ModelLoadError, match="truncated"):
        read_gguf(path)
