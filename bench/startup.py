"""Start-up: `llm --help` and `llm info` wall time against `python -c pass`, and what
`llm --help` imports (it must not load llama_cpp, huggingface_hub or the task modules)."""

from __future__ import annotations

from collections.abc import Callable

from bench.common import (
    LLM,
    PYTHON,
    Sample,
    check,
    command,
    interleaved,
    llm_env,
    med_rss,
    med_wall,
    run_cmd,
    table,
)

REPEATS = 15
HEAVY = ("llama_cpp", "huggingface_hub", "llmcli.tasks", "numpy", "rich", "jinja2")
BUDGET_S = 0.3


def run() -> str:
    with llm_env() as env:
        cases = {
            "`python -c pass`": [PYTHON, "-c", "pass"],
            "`llm --help`": [LLM, "--help"],
            "`llm run --help`": [LLM, "run", "--help"],
            "`llm info`": [LLM, "info"],
        }
        results = interleaved({name: _case(cmd, env) for name, cmd in cases.items()}, REPEATS)
        imported = _imports(env)
    base = med_wall(results["`python -c pass`"])
    rows = []
    for name, samples in results.items():
        wall = med_wall(samples)
        rows.append(
            [name, f"{wall * 1000:.0f}", f"{(wall - base) * 1000:+.0f}", f"{med_rss(samples):.0f}"]
        )
    helps = med_wall(results["`llm --help`"])
    verdict = "under" if helps < BUDGET_S else "OVER"
    heavy = [m for m in HEAVY if m in imported]
    return "\n".join(
        [
            "## Start-up",
            "",
            command("startup"),
            "",
            f"Median of {REPEATS} interleaved runs each (after one warm-up round).",
            "",
            table(["command", "wall ms", "over `python -c pass`", "peak RSS MiB"], rows),
            "",
            f"`llm --help`: {helps * 1000:.0f} ms, {verdict} the {BUDGET_S * 1000:.0f} ms budget. "
            f"Heavy modules it imports (`python -X importtime`): "
            f"{', '.join(heavy) if heavy else 'none of ' + ', '.join(HEAVY)}.",
        ]
    )


def _imports(env: dict[str, str]) -> set[str]:
    """Top-level and package modules `llm --help` imports, from -X importtime."""
    sample = check(run_cmd([PYTHON, "-X", "importtime", LLM, "--help"], env=env), "importtime")
    names: set[str] = set()
    for line in sample.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            parts = name.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return names


def _case(cmd: list[str], env: dict[str, str]) -> Callable[[], Sample]:
    return lambda: check(run_cmd(cmd, env=env), cmd[-1])
