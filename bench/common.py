"""Helpers shared by the benchmark sections: machine info, timed child processes, tables.

Every figure comes from child processes run side by side (interleaved) in one run, so noise
from other work on the machine hits both sides alike; we report medians.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PYTHON = sys.executable
LLM = str(Path(sys.executable).parent / "llm")  # the installed console script, as users run it
SEED = 42


def command(section: str) -> str:
    """The command line that reproduces one section."""
    from bench import QUALITY

    group = "make bench-quality" if section in QUALITY else "make bench"
    return f"`.venv/bin/python -m bench {section}` (with the others: `{group}`)"


@dataclass(frozen=True)
class Sample:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_cmd(
    cmd: Sequence[str],
    *,
    stdin: str | bytes = b"",
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> Sample:
    """Run a child to completion: wall time and its own peak RSS (wait4's rusage)."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        _, status, usage = _wait4(proc, timeout)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Sample(
            wall,
            usage.ru_maxrss / 1024,  # Linux reports KiB
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


def _wait4(
    proc: subprocess.Popen[bytes], timeout: float
) -> tuple[int, int, resource.struct_rusage]:
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        if time.monotonic() > deadline:
            proc.kill()
            return os.wait4(proc.pid, 0)
        time.sleep(0.002)


def check(sample: Sample, what: str) -> Sample:
    if sample.returncode != 0:
        tail = sample.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"{what} exited {sample.returncode}: {' | '.join(tail)}")
    return sample


def interleaved(
    runs: Mapping[str, Callable[[], Sample]], repeats: int, warmup: int = 1
) -> dict[str, list[Sample]]:
    """Run each case in turn, `repeats` rounds (after warm-up rounds that are dropped)."""
    results: dict[str, list[Sample]] = {name: [] for name in runs}
    for round_no in range(warmup + repeats):
        for name, fn in runs.items():
            sample = fn()
            if round_no >= warmup:
                results[name].append(sample)
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def med_wall(samples: Sequence[Sample]) -> float:
    return median([s.wall_s for s in samples])


def med_rss(samples: Sequence[Sample]) -> float:
    return median([s.peak_rss_mb for s in samples])


@contextmanager
def llm_env(**extra: str) -> Iterator[dict[str, str]]:
    """An environment isolated from the user's config and caches, like the integration tests."""
    tmp = Path(tempfile.mkdtemp(prefix="llm-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "HF_"))}
    # an installed `llm` has its bytecode cached: a per-call wall that compiles every module
    # again (some sandboxes set this) measures the compiler, not the tool
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        NO_COLOR="1",
        LLM_CONFIG_DIR=str(tmp / "config"),
        LLM_DATA_DIR=str(tmp / "data"),
        LLM_CACHE_DIR=str(tmp / "cache"),
        HF_HOME=str(tmp / "hf"),
        HF_HUB_OFFLINE="1",
    )
    env.update(extra)
    try:
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def model_path() -> Path:
    from llmcli.models import bundled_model_path

    path = bundled_model_path()
    if path is None:
        raise RuntimeError("the bundled model is not installed: run `make install`")
    return path


def threads() -> int:
    """The thread count `llm` uses by default; the baselines use the same."""
    from llmcli.engine.llama import default_threads

    return default_threads()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}x" if base > 0 else "n/a"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> str:
    """The header of docs/benchmarks.md: what these figures were measured on."""
    import llama_cpp

    raw = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    system = ", ".join(p.strip() for p in raw.split("|") if p.strip())  # "|" breaks tables
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = [
        ("date", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu_model()}, {cores} cores available ({os.cpu_count()} online)"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("llama-cpp-python", llama_cpp.__version__),
        ("llama.cpp system info", f"`{system}`"),
        ("model", f"{model_path().name} ({model_path().stat().st_size / 2**20:.0f} MiB)"),
        ("threads", str(threads())),
        ("commit", _git_commit()),
    ]
    return table(["", ""], rows)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_factor() -> str:
    """The 1-minute load average: how busy the machine was while measuring."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"
