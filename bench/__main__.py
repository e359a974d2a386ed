"""Run benchmark sections and write them into docs/benchmarks.md.

`python -m bench` runs the speed sections (SECTIONS); `python -m bench quality speed` runs
those named (any of ALL) and keeps the others' last figures. Sections live between markers so each can be
replaced on its own.
"""

from __future__ import annotations

import fcntl
import importlib
import re
import sys
import time
import traceback
from pathlib import Path

from bench import ALL, SECTIONS
from bench.common import DOC, cpu_model, load_factor, machine_info

TITLE = "# Benchmarks"
INTRO = """\
Speed: `make bench` (`.venv/bin/python -m bench`, under ten minutes). Task quality on all of
the shared development data: `make bench-quality` (`.venv/bin/python -m bench quality`).
Claims about the bundled model's wording (quality checks, also in `make bench-quality`):
`.venv/bin/python -m bench checks`.
`.venv/bin/python -m bench NAME` reruns one section and leaves the others as they were.
Every comparison is measured side by side in one run (interleaved rounds, medians), so load
from other work on the machine hits both sides alike. Figures are for the machine below;
each section says when and on which CPU it was measured.
"""
LOCK = Path(__file__).parent / "out" / "benchmarks.lock"  # bench/out/ is git-ignored
_BLOCK = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->\n?", re.S)


def main(argv: list[str]) -> int:
    wanted = argv or list(SECTIONS)
    unknown = [n for n in wanted if n not in ALL]
    if unknown:
        print(f"unknown section {unknown[0]!r}; sections: {', '.join(ALL)}", file=sys.stderr)
        return 2
    ours: dict[str, str] = {}
    failed = 0
    for name in wanted:
        text = _run_section(name)
        if text is None:
            continue
        failed += text.startswith("FAILED")
        ours[name] = text.removeprefix("FAILED")
        _update(DOC, ours)  # after each section: a later crash keeps what was measured
    if set(SECTIONS) <= set(wanted):  # one section rerun elsewhere says its CPU instead
        ours["machine"] = "## Machine\n\n" + machine_info()
        _update(DOC, ours)
    print(f"wrote {DOC}", file=sys.stderr)
    return 1 if failed else 0


def _run_section(name: str) -> str | None:
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.{name}":
            raise
        print(f"bench: {name}: no bench/{name}.py yet, skipped", file=sys.stderr)
        return None
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    start, load = time.perf_counter(), load_factor()
    try:
        body: str = module.run().strip()
        status = ""
    except Exception as exc:
        traceback.print_exc()
        body = f"## {name}\n\nThe section failed: `{type(exc).__name__}: {exc}`"
        status = "FAILED"
    took = time.perf_counter() - start
    print(f"bench: {name} took {took:.0f} s", file=sys.stderr, flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    heading, _, rest = body.partition("\n")
    note = (
        f"_Measured {stamp} in {took:.0f} s on {cpu_model()}; load average {load} at the start, "
        f"{load_factor()} at the end (its own processes included)._"
    )
    return f"{status}{heading}\n\n{note}\n{rest}\n"


def _read_blocks(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {m.group(1): m.group(2) for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))}


def _update(path: Path, ours: dict[str, str]) -> None:
    """Merge our sections into the file as it is now: another `python -m bench OTHER`
    running at the same time keeps its sections (the lock serializes read-merge-write)."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        blocks = _read_blocks(path)
        blocks.update(ours)
        _write(path, blocks)


def _write(path: Path, blocks: dict[str, str]) -> None:
    order = ["machine", *ALL, *sorted(set(blocks) - {"machine", *ALL})]
    parts = [TITLE, "", INTRO]
    for name in order:
        if name in blocks:
            parts.append(f"<!-- bench:{name} -->\n{blocks[name].strip()}\n<!-- /bench:{name} -->\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
