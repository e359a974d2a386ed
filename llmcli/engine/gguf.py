"""A small GGUF header reader: validate a file and read its metadata without loading it.

llama.cpp is only ever handed files that pass `read_gguf`: right magic and version, a
header that parses, and tensor data that lies within the file.
"""

from __future__ import annotations

import mmap
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmcli.errors import ModelLoadError

MAGIC = b"GGUF"
_MAX_STRING = 1 << 28
_MAX_COUNT = 1 << 32
_KEEP_ARRAY = 64  # larger arrays (the vocabulary) are skipped, only their length is kept
_MAX_DEPTH = 4  # arrays of arrays: real files nest one level; 400 levels overflowed the stack

# value type id -> struct format (scalars); 8 = string, 9 = array
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}

# ggml tensor type id -> (elements per block, bytes per block)
_GGML_BLOCKS = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 36),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
}

# general.file_type -> quant name (llama_ftype)
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4",
}


@dataclass(frozen=True)
class ArrayInfo:
    """Stand-in for a large metadata array we did not keep."""

    length: int


@dataclass
class GGUFInfo:
    path: Path
    version: int
    file_size: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensor_count: int = 0
    parameter_count: int = 0
    data_offset: int = 0
    data_end: int = 0  # where the last tensor ends; > file_size means truncated

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str | None:
        value = self.metadata.get("general.name")
        return str(value) if value is not None else None

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def quant(self) -> str | None:
        ftype = self.metadata.get("general.file_type")
        return FILE_TYPES.get(ftype) if isinstance(ftype, int) else None

    @property
    def split_count(self) -> int:
        value = self.metadata.get("split.count")
        return int(value) if isinstance(value, int) else 1


_U64 = struct.Struct("<Q")


class _Reader:
    """Reads the header from a memory map: struct.unpack_from, no read() per value (the
    vocabulary arrays alone are ~100k strings, which made one-shot runs ~60 ms slower)."""

    def __init__(self, buf: Any, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.path = path

    def _truncated(self) -> ModelLoadError:
        return ModelLoadError(f"{self.path}: GGUF header is truncated (file ends early)")

    def read(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise self._truncated()
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise self._truncated()
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += size
        return value

    def count(self, what: str) -> int:
        n = int(self.unpack("<Q"))
        if n > _MAX_COUNT:
            raise ModelLoadError(f"{self.path}: corrupt GGUF header ({what} count {n})")
        return n

    def _string_length(self) -> int:
        n = int(self.unpack("<Q"))
        if n > _MAX_STRING:
            raise ModelLoadError(f"{self.path}: corrupt GGUF header (string of {n} bytes)")
        return n

    def string(self) -> str:
        return self.read(self._string_length()).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self._string_length()  # not `self.pos += ...`: that reads pos before the call
        self.pos += n

    def skip_strings(self, count: int) -> None:
        """The hot loop: walk `count` length-prefixed strings without copying them."""
        buf, pos, end, unpack = self.buf, self.pos, len(self.buf), _U64.unpack_from
        for _ in range(count):
            if pos + 8 > end:
                raise self._truncated()
            (n,) = unpack(buf, pos)
            if n > _MAX_STRING:
                raise ModelLoadError(f"{self.path}: corrupt GGUF header (string of {n} bytes)")
            pos += 8 + n
        self.pos = pos

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            if depth >= _MAX_DEPTH:
                raise ModelLoadError(f"{self.path}: corrupt GGUF header (arrays nested too deep)")
            return self.array(depth + 1)
        raise ModelLoadError(f"{self.path}: corrupt GGUF header (value type {vtype})")

    def array(self, depth: int) -> Any:
        etype = int(self.unpack("<I"))
        n = self.count("array")
        if n <= _KEEP_ARRAY:
            return [self.value(etype, depth) for _ in range(n)]
        if etype in _SCALARS:
            self.pos += n * struct.calcsize(_SCALARS[etype])
        elif etype == 8:
            self.skip_strings(n)
        else:
            for _ in range(n):
                self.value(etype, depth)
        return ArrayInfo(n)


def read_gguf(path: Path) -> GGUFInfo:
    """Parse and check a GGUF file's header. Raises ModelLoadError with one clear line."""
    path = Path(path)
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise ModelLoadError(f"{path} is a directory, not a GGUF model file")
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block open() forever
            raise ModelLoadError(f"{path} is not a regular file (a pipe or a device?)")
        size = st.st_size
        with path.open("rb") as fh:
            if size == 0:
                return _parse(_Reader(b"", path), size)
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(_Reader(buf, path), size)
    except FileNotFoundError:
        raise ModelLoadError(f"model file not found: {path}") from None
    except PermissionError:
        raise ModelLoadError(f"cannot read model file (permission denied): {path}") from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from None


def _parse(r: _Reader, size: int) -> GGUFInfo:
    magic = bytes(r.buf[:4])
    r.pos = len(magic)
    if magic != MAGIC:
        raise ModelLoadError(f"{r.path} is not a GGUF model file (bad magic {magic[:4]!r})")
    version = int(r.unpack("<I"))
    if version not in (2, 3):
        raise ModelLoadError(f"{r.path}: unsupported GGUF version {version} (need 2 or 3)")
    info = GGUFInfo(path=r.path, version=version, file_size=size)
    info.tensor_count = r.count("tensor")
    n_kv = r.count("metadata")
    for _ in range(n_kv):
        key = r.string()
        info.metadata[key] = r.value(int(r.unpack("<I")))
    alignment = info.metadata.get("general.alignment", 32)
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else 32
    tensors: list[tuple[int, int, int]] = []  # (type, elements, offset)
    for _ in range(info.tensor_count):
        r.skip_string()
        n_dims = int(r.unpack("<I"))
        if n_dims > 8:
            raise ModelLoadError(f"{r.path}: corrupt GGUF header (tensor with {n_dims} dims)")
        elements = 1
        for _ in range(n_dims):
            elements *= int(r.unpack("<Q"))
        tensors.append((int(r.unpack("<I")), elements, int(r.unpack("<Q"))))
    pos = r.pos
    info.data_offset = -(-pos // alignment) * alignment
    info.parameter_count = sum(e for _, e, _ in tensors)
    info.data_end = pos  # no tensors: nothing after the header
    for ttype, elements, offset in tensors:
        block = _GGML_BLOCKS.get(ttype)
        if block is None:
            continue  # a type newer than this table: llama.cpp will check it
        nbytes = elements // block[0] * block[1]
        info.data_end = max(info.data_end, info.data_offset + offset + nbytes)
    if info.data_end > size:
        raise ModelLoadError(
            f"{r.path} is truncated: tensor data needs {info.data_end:,} bytes, "
            f"file has {size:,} (incomplete download?)"
        )
    return info
