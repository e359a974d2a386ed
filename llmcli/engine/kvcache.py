"""An on-disk cache of the KV state of prompt prefixes (system prompt, few-shot examples).

A script that calls `llm translate` or `llm sentiment` in a loop starts a new process each
time; without this every call re-evaluates the template's fixed prefix. The engine tells us
how long that prefix is; we key it by model file (path, size, mtime), llama.cpp version and
the prefix's tokens, and store llama.cpp's per-sequence state for it under
`<cache dir>/kv/`.

- Entries are written to a temporary file and renamed into place, so concurrent runs never
  see half an entry; two runs racing on one key both write the same bytes.
- Every entry carries its tokens and a CRC32: a corrupt or truncated one is a miss, and is
  deleted.
- The directory is bounded (`LLM_KV_CACHE_MB`, default 512 MiB); least recently used entries
  (by mtime, touched on every hit) go first. `LLM_KV_CACHE=0` turns the cache off.

Nothing here imports llama_cpp: the backend's context does the state I/O (`StateTarget`),
so the store is tested without a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import struct
import tempfile
import time
import zlib
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from llmcli.errors import ConfigError

ENV_SWITCH = "LLM_KV_CACHE"
ENV_LIMIT = "LLM_KV_CACHE_MB"
DEFAULT_LIMIT_MB = 512
MIN_PREFIX_TOKENS = 16  # shorter prefixes evaluate faster than a file round trip
SUFFIX = ".kv"
MAGIC = b"LLMKV01\n"
_HEADER = struct.Struct("<QQI")  # n_tokens, payload bytes, crc32 of tokens + payload
_STALE_TMP_S = 600  # temporary files of crashed writers older than this are removed

Outcome = Literal["hit", "miss", "skip"]


@dataclass(frozen=True)
class KVSettings:
    directory: Path
    limit_bytes: int


def settings_from_env(environ: Mapping[str, str], cache_dir: Path | None) -> KVSettings | None:
    """None when the cache is turned off (`LLM_KV_CACHE=0`) or there is no cache dir."""
    switch = environ.get(ENV_SWITCH, "1").strip().lower()
    if cache_dir is None or switch in ("0", "false", "no", "off"):
        return None
    raw = environ.get(ENV_LIMIT, "").strip()
    try:
        limit_mb = float(raw) if raw else DEFAULT_LIMIT_MB
    except ValueError:
        limit_mb = math.nan
    if not math.isfinite(limit_mb):  # nan, inf and words were crashes or silently ignored
        raise ConfigError(
            f"{ENV_LIMIT} must be a number of MiB (0 turns the cache off), got {raw!r}"
        )
    if limit_mb <= 0:
        return None
    return KVSettings(Path(cache_dir) / "kv", int(limit_mb * 2**20))


def model_identity(path: Path, *extra: str) -> str:
    """The model file as the cache sees it: replaced or touched files get new keys."""
    st = path.stat()
    return "|".join([str(path.resolve()), str(st.st_size), str(st.st_mtime_ns), *extra])


def _token_bytes(tokens: Sequence[int]) -> bytes:
    return array("i", tokens).tobytes()


class KVStore:
    """Files `<key>.kv`: MAGIC, header, the prefix tokens (int32), the state payload."""

    def __init__(self, directory: Path, limit_bytes: int) -> None:
        self.directory = directory
        self.limit_bytes = limit_bytes

    @staticmethod
    def key(model_id: str, tokens: Sequence[int]) -> str:
        digest = hashlib.sha256(model_id.encode("utf-8") + b"\0" + _token_bytes(tokens))
        return digest.hexdigest()[:40]

    def path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def get(self, key: str, tokens: Sequence[int]) -> bytes | None:
        """The payload stored for exactly these tokens, or None; bad entries are deleted."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        payload = _decode(data, _token_bytes(tokens))
        if payload is None:
            self.discard(key)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used goes first
        return payload

    def put(self, key: str, tokens: Sequence[int], payload: bytes) -> None:
        """Write atomically (temp file + rename), then trim the directory to its limit."""
        token_data = _token_bytes(tokens)
        crc = zlib.crc32(payload, zlib.crc32(token_data))
        header = MAGIC + _HEADER.pack(len(tokens), len(payload), crc)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # prompts' state
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(header)
                fh.write(token_data)
                fh.write(payload)
            os.replace(tmp, self.path(key))
        except BaseException:
            _unlink(Path(tmp))
            raise
        self.evict()

    def discard(self, key: str) -> None:
        _unlink(self.path(key))

    def entries(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every entry, oldest first."""
        found: list[tuple[float, int, Path]] = []
        try:
            paths = list(self.directory.glob(f"*{SUFFIX}"))
        except OSError:
            return found
        for path in paths:
            try:
                st = path.stat()
            except OSError:
                continue  # another run evicted it
            found.append((st.st_mtime, st.st_size, path))
        return sorted(found)

    def evict(self) -> None:
        """Drop least recently used entries until the total fits the limit."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.limit_bytes:
                break
            _unlink(path)
            total -= size
        self._remove_stale_tmp()

    def _remove_stale_tmp(self) -> None:
        cutoff = time.time() - _STALE_TMP_S
        for path in self.directory.glob(".*.tmp"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass


def _decode(data: bytes, token_data: bytes) -> bytes | None:
    start = len(MAGIC) + _HEADER.size
    if len(data) < start or not data.startswith(MAGIC):
        return None
    n_tokens, n_payload, crc = _HEADER.unpack_from(data, len(MAGIC))
    if len(data) != start + 4 * n_tokens + n_payload:
        return None  # truncated, or something appended
    stored = data[start : start + 4 * n_tokens]
    payload = data[start + 4 * n_tokens :]
    if stored != token_data or zlib.crc32(payload, zlib.crc32(stored)) != crc:
        return None
    return payload


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class StateTarget(Protocol):
    """The context a prefix is restored into (`engine._native.Native`)."""

    def holds(self, prefix: Sequence[int]) -> bool: ...
    def clear(self) -> None: ...
    def eval(self, tokens: Sequence[int]) -> None: ...
    def save_state(self) -> bytes: ...
    def load_state(self, prefix: Sequence[int], payload: bytes) -> bool: ...


class PrefixCache:
    """Restores (hit) or evaluates and saves (miss) a prompt prefix's KV state."""

    def __init__(self, store: KVStore, model_id: str) -> None:
        self.store = store
        self.model_id = model_id
        self.last: Outcome = "skip"

    @classmethod
    def open(
        cls, settings: KVSettings | None, model_path: Path, backend: str
    ) -> PrefixCache | None:
        """`backend` names the build whose state format the entries hold."""
        if settings is None:
            return None
        try:
            model_id = model_identity(model_path, backend)
        except OSError:
            return None
        return cls(KVStore(settings.directory, settings.limit_bytes), model_id)

    def prepare(self, target: StateTarget, tokens: Sequence[int], prefix_len: int) -> Outcome:
        """Leave `target` holding the KV of tokens[:prefix_len], from disk when we can.

        Afterwards the sampler's own prefix matching evaluates only the rest.
        """
        prefix = list(tokens[:prefix_len])
        if prefix_len < MIN_PREFIX_TOKENS or prefix_len >= len(tokens) or target.holds(prefix):
            self.last = "skip"  # too short to pay, or already in memory (chat, batch mode)
            return self.last
        key = self.store.key(self.model_id, prefix)
        payload = self.store.get(key, prefix)
        if payload is not None and target.load_state(prefix, payload):
            self.last = "hit"
            return self.last
        if payload is not None:
            self.store.discard(key)  # the backend refused it
        target.clear()
        target.eval(prefix)
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            self.store.put(key, prefix, target.save_state())
        self.last = "miss"
        return self.last
