"""The on-disk prefix KV cache without a model: keying, LRU bound, bad entries, atomic writes."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from llmcli.engine.kvcache import (
    MAGIC,
    SUFFIX,
    KVStore,
    model_identity,
    settings_from_env,
)

TOKENS = list(range(100, 140))


@pytest.fixture
def store(tmp_path: Path) -> KVStore:
    return KVStore(tmp_path / "kv", limit_bytes=10 * 2**20)


def test_settings_default_on_under_cache_dir(tmp_path: Path) -> None:
    settings = settings_from_env({}, tmp_path)
    assert settings is not None
    assert settings.directory == tmp_path / "kv"
    assert settings.limit_bytes == 512 * 2**20


@pytest.mark.parametrize("value", ["0", "off", "false", "no"])
def test_settings_switch_off(tmp_path: Path, value: str) -> None:
    assert settings_from_env({"LLM_KV_CACHE": value}, tmp_path) is None


def test_settings_limit_from_env(tmp_path: Path) -> None:
    settings = settings_from_env({"LLM_KV_CACHE_MB": "2"}, tmp_path)
    assert settings is not None and settings.limit_bytes == 2 * 2**20
    assert settings_from_env({"LLM_KV_CACHE_MB": "0"}, tmp_path) is None


def test_key_depends_on_model_and_every_token() -> None:
    base = KVStore.key("model-a", TOKENS)
    assert base == KVStore.key("model-a", list(TOKENS))
    assert base != KVStore.key("model-b", TOKENS)
    assert base != KVStore.key("model-a", TOKENS[:-1])
    assert base != KVStore.key("model-a", [*TOKENS[:-1], 7])


def test_model_identity_changes_when_the_file_changes(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 10)
    first = model_identity(model, "v1")
    os.utime(model, ns=(1, 1))
    assert model_identity(model, "v1") != first
    assert model_identity(model, "v1") != model_identity(model, "v2")


def test_put_then_get_returns_the_payload(store: KVStore) -> None:
    key = store.key("m", TOKENS)
    store.put(key, TOKENS, b"state" * 100)
    assert store.get(key, TOKENS) == b"state" * 100
    assert [p.name for p in store.directory.iterdir()] == [f"{key}{SUFFIX}"]


def test_missing_entry_is_none(store: KVStore) -> None:
    assert store.get(store.key("m", TOKENS), TOKENS) is None


def test_entry_for_other_tokens_is_ignored_and_deleted(store: KVStore) -> None:
    key = store.key("m", TOKENS)
    store.put(key, [1, 2, 3], b"payload")  # a hash collision, or a file renamed by hand
    assert store.get(key, TOKENS) is None
    assert not store.path(key).exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]),  # a flipped byte
        lambda data: b"garbage",
        lambda data: b"",
        lambda data: data + b"extra",
        lambda data: b"XXXXXXXX" + data[len(MAGIC) :],  # wrong magic
    ],
)
def test_corrupt_entry_is_a_miss_and_deleted(store: KVStore, damage: object) -> None:
    key = store.key("m", TOKENS)
    store.put(key, TOKENS, os.urandom(5000))
    path = store.path(key)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    assert store.get(key, TOKENS) is None
    assert not path.exists()


def _put(store: KVStore, n: int) -> str:
    key = store.key("m", [n])
    store.put(key, [n], bytes(1000))
    os.utime(store.path(key), (1_000_000 + n, 1_000_000 + n))  # deterministic ages
    return key


def test_eviction_keeps_total_under_limit_dropping_least_recently_used(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "kv", limit_bytes=3 * 1100)
    keys = [_put(store, n) for n in range(3)]
    assert store.get(keys[0], [0]) is not None  # a hit makes the oldest the newest
    _put(store, 3)  # over the limit: the least recently used (keys[1]) goes
    remaining = {p.name for p in store.directory.glob(f"*{SUFFIX}")}
    assert remaining == {f"{k}{SUFFIX}" for k in (keys[0], keys[2], store.key("m", [3]))}
    assert sum(p.stat().st_size for p in store.directory.iterdir()) <= store.limit_bytes


def test_entry_larger_than_the_limit_is_not_kept(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "kv", limit_bytes=100)
    key = store.key("m", TOKENS)
    store.put(key, TOKENS, bytes(1000))
    assert store.get(key, TOKENS) is None


def test_failed_write_leaves_no_entry_and_no_temp_file(
    store: KVStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.put(store.key("m", TOKENS), TOKENS, b"payload")
    assert list(store.directory.iterdir()) == []


def test_stale_temp_files_of_crashed_writers_are_removed(store: KVStore) -> None:
    store.directory.mkdir(parents=True)
    stale = store.directory / ".abc.123.tmp"
    fresh = store.directory / ".def.456.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    os.utime(stale, (1, 1))
    store.evict()
    assert not stale.exists() and fresh.exists()


def _writer(directory: str, seed: int, rounds: int) -> None:
    store = KVStore(Path(directory), limit_bytes=2**30)
    for i in range(rounds):
        n = (seed + i) % 3
        store.put(store.key("m", [n]), [n], bytes([n]) * (200_000 + n))


def test_concurrent_writers_and_readers_never_see_partial_entries(tmp_path: Path) -> None:
    directory = tmp_path / "kv"
    ctx = multiprocessing.get_context("fork")
    writers = [ctx.Process(target=_writer, args=(str(directory), s, 30)) for s in range(3)]
    for proc in writers:
        proc.start()
    store = KVStore(directory, limit_bytes=2**30)
    seen = 0
    while any(p.is_alive() for p in writers) or seen == 0:
        for n in range(3):
            payload = store.get(store.key("m", [n]), [n])
            if payload is not None:
                assert payload == bytes([n]) * (200_000 + n)
                seen += 1
    for proc in writers:
        proc.join()
        assert proc.exitcode == 0
    assert seen > 0
    assert sorted(p.suffix for p in directory.iterdir()) == [SUFFIX] * 3  # no temp files left
