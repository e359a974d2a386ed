"""Reading what the user gives: files, stdin (whole or line by line), "text or file" arguments.

One rule for every command: input is UTF-8 text (a BOM is dropped), binary data and invalid
bytes are refused with where they are, nothing is read past MAX_INPUT_BYTES, and an argument
is a file only when it names an existing file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from llmcli.env import Environment
from llmcli.errors import InputError

MAX_INPUT_BYTES = 256 * 1024 * 1024  # refuse rather than exhaust memory
_FILE_LIKE = re.compile(r"^[^\s]+\.[A-Za-z0-9]{1,5}$")  # notes.txt, README.md


def decode_input(data: bytes, origin: str) -> str:
    """Bytes -> text, refusing binary and invalid UTF-8 with the offending offset."""
    if b"\x00" in data[:65536]:
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
        data = buffer.read(MAX_INPUT_BYTES + 1)
    else:
        data = env.stdin.read().encode("utf-8", errors="surrogateescape")
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"stdin is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return decode_input(data, "stdin")


def stdin_lines(env: Environment, origin: str = "line") -> Iterator[str | InputError]:
    """stdin line by line as it arrives (a slow writer gets answers as it goes), each line
    decoded on its own: a bad line is yielded as its error, for the caller to report or raise."""
    buffer = getattr(env.stdin, "buffer", None)
    for number, raw in enumerate(buffer if buffer is not None else env.stdin, 1):
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        try:
            yield decode_input(data.rstrip(b"\r\n"), f"{origin} {number}")
        except InputError as exc:
            yield exc


def read_file(path: Path) -> str:
    try:
        if path.is_dir():
            raise InputError(f"{path} is a directory")
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise InputError(f"{path} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
        return decode_input(path.read_bytes(), str(path))
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
