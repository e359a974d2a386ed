"""Model hints remembered between runs: keyed by the model file, robust to a bad file."""

from __future__ import annotations

import os
from pathlib import Path

from llmcli.hints import FILE, load_hint, save_hint


def test_saved_hint_is_loaded_for_the_same_file_only(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    save_hint(tmp_path / "cache", model, "batch", 2)
    assert load_hint(tmp_path / "cache", model, "batch") == 2
    assert load_hint(tmp_path / "cache", other, "batch") is None
    assert load_hint(tmp_path / "cache", model, "other") is None
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a replaced file
    assert load_hint(tmp_path / "cache", model, "batch") is None


def test_corrupt_or_missing_hints_are_no_hints(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert load_hint(tmp_path, model, "batch") is None
    for junk in ("{not json", "[1, 2]", '{"x": 3}'):
        (tmp_path / FILE).write_text(junk)
        assert load_hint(tmp_path, model, "batch") is None
    save_hint(tmp_path, model, "batch", 4)  # a corrupt file is replaced, not an error
    assert load_hint(tmp_path, model, "batch") == 4
    assert load_hint(None, model, "batch") is None


def test_unwritable_cache_is_ignored(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    save_hint(blocker, model, "batch", 1)  # no exception
    assert load_hint(blocker, model, "batch") is None
