"""A local stand-in for the Hugging Face Hub, for the real huggingface_hub client.

Serves model repos laid out in a directory (`<root>/<owner>/<name>/<files>`) on 127.0.0.1:
  HEAD/GET /{owner}/{name}/resolve/{rev}/{path}   X-Repo-Commit, ETag, Content-Length, Range
  GET /api/models/{owner}/{name}[/revision/{rev}] repo info with its commit sha
  GET /api/models/{owner}/{name}/tree/{rev}       file listing (?recursive=true)
Errors carry the `X-Error-Code` header the client maps to its exceptions. A repo's commit
is a hash of its listing, so changing files makes a new commit. Faults on request: drop the
connection after N bytes of a file (once or every time), throttle to B bytes/s, and serve a
file altered under its real ETag.

Run standalone: `python -m tests.hub_server ROOT [PORT]`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK = 64 * 1024


@dataclass
class Faults:
    drop_after: dict[str, int] = field(default_factory=dict)  # file path -> byte offset
    drop_always: bool = False  # False: each entry drops one connection, then is cleared
    rate: float | None = None  # bytes per second per response (None: full speed)
    # file paths served with their last byte altered, under the real file's ETag (sha256):
    # what a corrupting proxy or a tampered mirror sends; the GGUF header still parses
    corrupt: set[str] = field(default_factory=set)


class HubServer:
    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = Path(root)
        self.faults = Faults()
        self.requests: list[str] = []  # "METHOD path" of every request, for assertions
        self.authorizations: list[str | None] = []  # the Authorization header of each
        self._etags: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)  # an AF_INET address
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- repos -------------------------------------------------------------------------

    def add_repo(self, repo: str, files: Mapping[str, bytes | Path]) -> Path:
        """Lay out a repo: bytes are written, a Path is linked (big files are not copied)."""
        base = self.root / repo
        base.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            target = base / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            if isinstance(content, Path):
                target.symlink_to(content.resolve())
            else:
                target.write_bytes(content)
        return base

    def repo_files(self, repo: str) -> list[Path]:
        base = self.root / repo
        return sorted(p for p in base.rglob("*") if p.is_file())

    def commit(self, repo: str) -> str:
        digest = hashlib.sha1(repo.encode())
        for path in self.repo_files(repo):
            stat = path.stat()
            rel = path.relative_to(self.root / repo).as_posix()
            digest.update(f"{rel}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def etag(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key not in self._etags:
                sha = hashlib.sha256()
                with path.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        sha.update(block)
                self._etags[key] = sha.hexdigest()
            return self._etags[key]

    def has_repo(self, repo: str) -> bool:
        return repo.count("/") == 1 and (self.root / repo).is_dir()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, *, head: bool) -> None:
        self.hub.requests.append(f"{self.command} {self.path}")
        self.hub.authorizations.append(self.headers.get("Authorization"))
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        try:
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                self._api(parts[2:], query)
            elif len(parts) >= 5 and parts[2] == "resolve":
                self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head)
            else:
                self._error(404, "", "not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- api ---------------------------------------------------------------------------

    def _api(self, parts: list[str], query: dict[str, list[str]]) -> None:
        repo = f"{parts[0]}/{parts[1]}"
        rest = parts[2:]
        if not self.hub.has_repo(repo):
            return self._error(404, "RepoNotFound", "Repository not found")
        rev = rest[1] if len(rest) >= 2 else "main"
        if not self._revision_ok(repo, rev):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        if not rest or rest[0] == "revision":
            return self._json(self._info(repo))
        if rest[0] == "tree":
            recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
            return self._json(self._tree(repo, "/".join(rest[2:]), recursive))
        self._error(404, "", "not found")

    def _revision_ok(self, repo: str, rev: str) -> bool:
        return rev in ("main", self.hub.commit(repo))

    def _info(self, repo: str) -> dict[str, Any]:
        base = self.hub.root / repo
        return {
            "id": repo,
            "modelId": repo,
            "author": repo.split("/")[0],
            "sha": self.hub.commit(repo),
            "private": False,
            "gated": False,
            "disabled": False,
            "tags": ["gguf"],
            "siblings": [
                {"rfilename": p.relative_to(base).as_posix()} for p in self.hub.repo_files(repo)
            ],
        }

    def _tree(self, repo: str, sub: str, recursive: bool) -> list[dict[str, Any]]:
        base = self.hub.root / repo
        start = base / sub if sub else base
        entries = start.rglob("*") if recursive else start.iterdir()
        out: list[dict[str, Any]] = []
        for path in sorted(entries):
            rel = path.relative_to(base).as_posix()
            if path.is_dir():
                out.append({"type": "directory", "oid": _oid(rel), "path": rel})
                continue
            size = path.stat().st_size
            sha = self.hub.etag(path)
            lfs = {"oid": sha, "size": size, "pointerSize": 134}
            out.append({"type": "file", "oid": _oid(sha), "size": size, "path": rel, "lfs": lfs})
        return out

    # -- files -------------------------------------------------------------------------

    def _resolve(self, repo: str, rev: str, name: str, head: bool) -> None:
        if not self.hub.has_repo(repo):
            return self._error(404, "RepoNotFound", "Repository not found")
        if not self._revision_ok(repo, rev):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        commit = self.hub.commit(repo)
        path = self.hub.root / repo / name
        if ".." in Path(name).parts or not path.is_file():
            return self._error(404, "EntryNotFound", "Entry not found", commit=commit)
        size = path.stat().st_size
        start = _range_start(self.headers.get("Range"), size)
        self.send_response(206 if start else 200)
        etag = self.hub.etag(path)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Linked-Etag", f'"{etag}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        if not head:
            self._send_file(path, name, start, size)

    def _send_file(self, path: Path, name: str, start: int, size: int) -> None:
        faults = self.hub.faults
        drop = faults.drop_after.get(name)
        if drop is not None and not faults.drop_always:
            faults.drop_after.pop(name, None)
        sent_at = time.monotonic()
        with path.open("rb") as fh:
            fh.seek(start)
            pos = start
            for block in iter(lambda: fh.read(CHUNK), b""):
                if name in faults.corrupt and pos + len(block) == size:
                    block = block[:-1] + bytes([block[-1] ^ 0xFF])
                if drop is not None and pos + len(block) > drop:
                    self.wfile.write(block[: max(drop - pos, 0)])
                    self.wfile.flush()
                    return self._hang_up()
                self.wfile.write(block)
                pos += len(block)
                if faults.rate:
                    sent_at += len(block) / faults.rate
                    time.sleep(max(0.0, sent_at - time.monotonic()))

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- helpers -----------------------------------------------------------------------

    def _json(self, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _oid(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _range_start(header: str | None, size: int) -> int:
    """`bytes=N-` -> N (the only form huggingface_hub sends when it resumes)."""
    if not header or not header.startswith("bytes="):
        return 0
    first = header[6:].split(",")[0].split("-")[0].strip()
    return min(int(first), size) if first.isdigit() else 0


# -- GGUF files for fake repos ---------------------------------------------------------

FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q2_K": 10, "Q3_K_M": 12}
FILE_TYPES |= {"Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18, "IQ4_XS": 30, "BF16": 32}


def gguf_bytes(
    quant: str = "Q4_K_M", *, size: int = 4096, name: str = "Fake", **extra: str
) -> bytes:
    """A valid GGUF with metadata and no tensors, padded to `size` bytes."""
    kv: list[tuple[str, int, bytes]] = [
        ("general.architecture", 8, _gguf_str("llama")),
        ("general.name", 8, _gguf_str(name)),
        ("general.file_type", 4, struct.pack("<I", FILE_TYPES.get(quant.upper(), 15))),
        ("llama.context_length", 4, struct.pack("<I", 2048)),
    ]
    kv += [(key, 8, _gguf_str(value)) for key, value in extra.items()]
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv))
    for key, vtype, value in kv:
        out += _gguf_str(key) + struct.pack("<I", vtype) + value
    return out + b"\0" * max(0, size - len(out))


def _gguf_str(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


# -- splitting a real GGUF (what llama.cpp's gguf-split does), for split-model tests ------

_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def split_gguf(src: Path, prefix: str, parts: int = 2) -> dict[str, bytes]:
    """Split a GGUF into `prefix-0000i-of-0000n.gguf` parts: the first keeps the metadata,
    the tensors are shared out in order. Returns {file name: content}."""
    data = src.read_bytes()
    pos = 24
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    kvs: list[bytes] = []
    alignment = 32
    for _ in range(n_kv):
        start = pos
        key, pos = _read_str(data, pos)
        vtype = struct.unpack_from("<I", data, pos)[0]
        pos = _skip_value(data, pos + 4, vtype)
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", data, pos - 4)[0]
        kvs.append(data[start:pos])
    infos: list[tuple[bytes, int]] = []  # (info without offset, offset)
    for _ in range(n_tensors):
        start = pos
        _, pos = _read_str(data, pos)
        n_dims = struct.unpack_from("<I", data, pos)[0]
        pos += 4 + 8 * n_dims + 4
        infos.append((data[start:pos], struct.unpack_from("<Q", data, pos)[0]))
        pos += 8
    base = -(-pos // alignment) * alignment
    infos.sort(key=lambda t: t[1])  # by offset: each tensor runs to the next one
    ends = [off for _, off in infos[1:]] + [len(data) - base]
    tensors = [
        (info, data[base + off : base + end]) for (info, off), end in zip(infos, ends, strict=True)
    ]
    per = -(-len(tensors) // parts)
    out: dict[str, bytes] = {}
    for i in range(parts):
        chunk = tensors[i * per : (i + 1) * per]
        meta = (kvs if i == 0 else []) + [
            _gguf_str("split.no") + struct.pack("<IH", 2, i),
            _gguf_str("split.count") + struct.pack("<IH", 2, parts),
            _gguf_str("split.tensors.count") + struct.pack("<Ii", 5, len(tensors)),
        ]
        head = b"GGUF" + struct.pack("<IQQ", 3, len(chunk), len(meta)) + b"".join(meta)
        body, offset = b"", 0
        for info, blob in chunk:
            head += info + struct.pack("<Q", offset)
            padded = blob + b"\0" * (-len(blob) % alignment)
            body += padded
            offset += len(padded)
        head += b"\0" * (-len(head) % alignment)
        out[f"{prefix}-{i + 1:05d}-of-{parts:05d}.gguf"] = head + body
    return out


def _read_str(data: bytes, pos: int) -> tuple[str, int]:
    n = struct.unpack_from("<Q", data, pos)[0]
    return data[pos + 8 : pos + 8 + n].decode(), pos + 8 + n


def _skip_value(data: bytes, pos: int, vtype: int) -> int:
    if vtype in _SCALAR_SIZES:
        return pos + _SCALAR_SIZES[vtype]
    if vtype == 8:
        return _read_str(data, pos)[1]
    etype: int
    count: int
    etype, count = struct.unpack_from("<IQ", data, pos)
    pos += 12
    if etype in _SCALAR_SIZES:
        return pos + count * _SCALAR_SIZES[etype]
    for _ in range(count):
        pos = _skip_value(data, pos, etype)
    return pos


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    with HubServer(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0) as hub:
        print(f"HF_ENDPOINT={hub.url}", flush=True)
        assert hub.thread is not None
        hub.thread.join()
