"""Reading what the user gives: files, stdin (whole or line by line), "text or file" arguments.

One rule for every command: input is UTF-8 text (a BOM is dropped), binary data and invalid
bytes are refused with where they are, nothing is read past MAX_INPUT_BYTES, and an argument
is a file only when it names an existing file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from llmcli.env import Environment
from llmcli.errors import InputError

MAX_INPUT_BYTES = 256 * 1024 * 1024  # refuse rather than exhaust memory
MAX_LINE_BYTES = 16 * 1024 * 1024  # one line of a batch (no line is worth more context)
_SNIFF = 65536  # binary data is recognised by a NUL byte this early
_FILE_LIKE = re.compile(r"^[^\s]+\.[A-Za-z0-9]{1,5}$")  # notes.txt, README.md


def decode_input(data: bytes, origin: str) -> str:
    """Bytes -> text, refusing binary and invalid UTF-8 with the offending offset."""
    if b"\x00" in data[:_SNIFF]:
        raise InputError(f"{origin} looks like binary data (NUL bytes); give text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{origin} is not valid UTF-8 (byte {exc.start:,}: {data[exc.start : exc.start + 1]!r})"
        ) from None
    return text.removeprefix("\ufeff")


def read_stdin(env: Environment) -> str | None:
    """Text piped on stdin, or None when stdin is a terminal."""
    if env.stdin_isatty:
        return None
    buffer = getattr(env.stdin, "buffer", None)
    if buffer is not None:
        data = _read_capped(buffer, "stdin")
    else:
        data = env.stdin.read(MAX_INPUT_BYTES + 1).encode("utf-8", errors="surrogateescape")
        if len(data) > MAX_INPUT_BYTES:
            raise InputError(f"stdin is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return decode_input(data, "stdin")


def _read_capped(stream: IO[bytes], origin: str) -> bytes:
    """At most MAX_INPUT_BYTES, whatever the source claims its size is (/dev/zero says 0);
    binary data is refused after its first 64 KiB, not after 256 MiB of it."""
    head = stream.read(_SNIFF)
    if b"\x00" in head:
        raise InputError(f"{origin} looks like binary data (NUL bytes); give text")
    data = head + stream.read(MAX_INPUT_BYTES + 1 - len(head)) if len(head) == _SNIFF else head
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{origin} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return data


def stdin_lines(env: Environment, origin: str = "line") -> Iterator[str | InputError]:
    """stdin line by line as it arrives (a slow writer gets answers as it goes), each line
    decoded on its own: a bad line is yielded as its error, for the caller to report or raise.
    A line longer than MAX_LINE_BYTES is that line's error; the lines after it still count."""
    buffer = getattr(env.stdin, "buffer", None)
    raws = _capped_lines(buffer) if buffer is not None else _text_lines(env.stdin)
    for number, raw in enumerate(raws, 1):
        where = f"{origin} {number}"
        if raw is None:
            yield InputError(f"{where} is longer than {MAX_LINE_BYTES // 2**20} MiB")
            continue
        try:
            yield decode_input(raw.rstrip(b"\r\n"), where)
        except InputError as exc:
            yield exc


def _capped_lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Lines of at most MAX_LINE_BYTES; None for a longer one (the rest of it is skipped)."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
            pass
        yield None


def _text_lines(stream: IO[str]) -> Iterator[bytes | None]:
    for line in stream:
        data = line.encode("utf-8", "surrogateescape")
        yield data if len(data) <= MAX_LINE_BYTES + 1 else None


def read_file(path: Path) -> str:
    try:
        if path.is_dir():
            raise InputError(f"{path} is a directory")
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise InputError(f"{path} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
        with path.open("rb") as fh:  # a pipe (-f <(cmd)) is read too, up to the limit
            return decode_input(_read_capped(fh, str(path)), str(path))
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except OSError as exc:  # a name too long, a device that fails
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_inputs(env: Environment, files: Sequence[Path] | None) -> str | None:
    """Files joined by blank lines, else stdin; None when there is neither."""
    if files:
        return "\n\n".join(read_file(p) for p in files)
    return read_stdin(env)


def is_file_arg(arg: str) -> bool:
    """An argument naming an existing file is read; anything else is text."""
    try:
        return "\n" not in arg and Path(arg).is_file()
    except (OSError, ValueError):  # a long text is not a valid path
        return False


def text_or_files(
    env: Environment, args: Sequence[str], files: Sequence[Path] | None
) -> str | None:
    """Arguments that all name files are read; otherwise they are the text itself. With no
    arguments: the -f files, else stdin. None when there is no input at all."""
    paths = [Path(a) for a in args if is_file_arg(a)]
    if args and len(paths) == len(args):
        return "\n\n".join(read_file(p) for p in [*paths, *(files or [])])
    if paths:
        raise InputError("give either text or files as arguments, not both")
    if not args:
        return read_inputs(env, files)
    if len(args) == 1 and _FILE_LIKE.match(args[0]) and not files:
        raise InputError(f"no such file: {args[0]}", hint="quote text to use it as text")
    if files:
        raise InputError("give either text arguments or -f files, not both")
    return " ".join(args)


def split_lines(text: str) -> list[str]:
    """Lines split at newlines only (str.splitlines also splits at form feeds and U+2028)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def parse_json_line(line: str) -> Any:
    """One JSONL line; every way it can fail (bad syntax, a 5,000-digit number, nesting deeper
    than the parser's stack) is a ValueError naming the problem, for that line alone."""
    import json

    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not usable JSON (nested too deep)") from None
    except ValueError as exc:  # int digit limit
        raise ValueError(f"not usable JSON ({exc})") from None
