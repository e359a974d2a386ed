"""The compatibility matrix: every model family through every command, on real llama.cpp.

`python -m bench.matrix` (`make models-doc`) regenerates docs/models.md. Models: the bundled
SmolLM2, Gemma 3 270M (a base model, `make gemma`), and the bundled model re-labelled with
real templates of the sdist (the `gguf` package's gguf_new_metadata.py), served by the local
Hub imitation (tests/hub_server.py) and pulled with `llm models pull`. Each goes through run,
chat (pipe mode), summarize, translate and sentiment; a cell is ✓ when the command exits 0
and its output holds no chat marker or thinking text, else the reason.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.common import LLM, ROOT, run_cmd

DOC = ROOT / "docs" / "models.md"
_SDIST = "~/.cache/llmcli-build/llama-cpp-python-0.3.36/vendor/llama.cpp/models/templates"
TEMPLATES = Path(os.environ.get("LLMCLI_TEMPLATES_DIR", _SDIST)).expanduser()
GEMMA = Path(
    os.environ.get("LLMCLI_GEMMA", "~/.cache/llmcli-build/gemma3-270m/gemma-3-270m-q4_k_m.gguf")
).expanduser()

# family -> the sdist template the bundled model is re-labelled with
FAMILIES = {
    "Llama 3.2": "meta-llama-Llama-3.2-3B-Instruct",
    "Qwen3": "Qwen-Qwen3-0.6B",
    "Gemma 4": "google-gemma-4-31B-it",
    "Mistral Small 3.2": "Mistral-Small-3.2-24B-Instruct-2506",
    "Phi 3.5": "microsoft-Phi-3.5-mini-instruct",
    "gpt-oss": "openai-gpt-oss-120b",
    "DeepSeek-R1 distill": "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
    "Granite 3.3": "ibm-granite-granite-3.3-2B-Instruct",
    "Command A (loop controls)": "Cohere2MoE",
}
TEXT = (
    "The city council met on Tuesday to discuss the new park. Residents asked for more trees "
    "and a playground. The council agreed to publish a plan next month."
)
_GREEDY = ["--temperature", "0"]  # the table must not change from run to run
COMMANDS: dict[str, tuple[list[str], str]] = {
    "run": (["run", *_GREEDY, "--max-tokens", "40", "Name one fruit."], ""),
    "chat": (["chat", *_GREEDY, "--max-tokens", "40"], "Hello!\nName one colour.\n"),
    "summarize": (["summarize", *_GREEDY, "--max-tokens", "60"], TEXT),
    "translate": (["translate", "--to", "pt", *_GREEDY, "--max-tokens", "40"], "Good morning."),
    "sentiment": (["sentiment"], "I love this park."),
}
# what must never reach a command's output: chat markers and thinking text
LEAKS = (
    "<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|eot_id|>", "<start_of_turn>",
    "<end_of_turn>", "[INST]", "[/INST]", "<|user|>", "<|assistant|>", "<|end|>",
    "<|start_of_role|>", "<|end_of_text|>", "<｜User｜>", "<｜Assistant｜>", "<|channel|>",
    "<|message|>", "<|start|>", "<think>", "</think>", "<|turn>", "<turn|>",
)  # fmt: skip


# thinking markers: <think> blocks and gpt-oss channels
THINKING = ("<think>", "</think>", "<|channel|>", "<|message|>", "<|start|>")


@dataclass(frozen=True)
class Model:
    family: str
    spec: str
    template: str  # where its chat template comes from


def cell(env: Mapping[str, str], spec: str, command: str) -> str:
    """✓, or why not: the exit code and error line, or the marker that leaked."""
    args, stdin = COMMANDS[command]
    sample = run_cmd([LLM, *args, "-m", spec], stdin=stdin, env=env, timeout=600)
    if sample.returncode != 0:
        lines = sample.stderr.strip().splitlines() or [""]
        error = lines[-1].removeprefix("llm: error: ").rsplit(" (", 1)[0]  # without the hint
        return f"exit {sample.returncode}: {error[:100]}"
    leaked = [m for m in LEAKS if m in sample.stdout]
    if leaked and leaked[0] in THINKING:
        return f"leaks `{leaked[0]}`: thinking text, for the reasoning split (issue 12 part 4)"
    if leaked:
        return f"leaks `{leaked[0]}`"
    if not sample.stdout.strip():
        return "empty output"
    return "✓"


def models(work: Path, families: Mapping[str, str] = FAMILIES) -> list[Model]:
    """Serve the re-labelled copies from a local Hub and pull each with `llm models pull`."""
    from llmcli.models import bundled_model_path
    from tests.relabel import relabel

    bundled = bundled_model_path()
    assert bundled is not None, "the bundled model is not installed: run `make install`"
    found = [Model("SmolLM2 135M (bundled)", str(bundled), "own (ChatML)")]
    if GEMMA.is_file():
        found.append(Model("Gemma 3 270M (base)", str(GEMMA), "none"))
    for family, name in families.items():
        template = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
        repo = f"matrix/{name}-GGUF"
        relabel(bundled, work / "hub" / repo / f"{name}-Q4_1.gguf", template)
        found.append(Model(family, f"{repo}:Q4_1", f"`{name}.jinja`"))
    return found


def pull_all(env: dict[str, str], found: list[Model]) -> None:
    for model in found:
        if model.spec.startswith("matrix/"):
            sample = run_cmd([LLM, "models", "pull", model.spec], env=env, timeout=600)
            if sample.returncode != 0:
                raise RuntimeError(f"pull {model.spec}: {sample.stderr.strip()[-200:]}")


def matrix_env(work: Path, hub_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "HF_"))}
    env.update(
        NO_COLOR="1",
        LLM_CONFIG_DIR=str(work / "config"),
        LLM_DATA_DIR=str(work / "data"),
        LLM_CACHE_DIR=str(work / "cache"),
        HF_HOME=str(work / "hf"),
        HF_ENDPOINT=hub_url,
        LLM_THREADS=os.environ.get("LLM_THREADS", "1"),  # the CPU is shared (docs/benchmarks.md)
    )
    return env


def render(rows: list[tuple[Model, dict[str, str]]], took: float) -> str:
    head = ["family", "chat template", *COMMANDS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model, cells in rows:
        values = [model.family, model.template, *cells.values()]
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in values) + " |")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join([HEADER, f"_Generated {stamp} in {took:.0f} s._", "", *lines, "", NOTES])


HEADER = """\
# Models

Which model families work with llmcli, end to end on real llama.cpp: regenerate this page with
`make models-doc` (`.venv/bin/python -m bench.matrix`, about ten minutes on 2 cores).

Rows: the bundled SmolLM2 135M; Gemma 3 270M, a base model without a chat template (`make
gemma`); and the bundled model re-labelled with each family's real chat template from the
llama-cpp-python 0.3.36 sdist, served by a local Hub imitation and pulled with `llm models
pull`. The re-labelled rows test the template path (rendering, stops, markers), not the
family's own weights: a 135M ChatML model fed another family's prompt format writes what it
writes. A cell is ✓ when the command exits 0 and its output has no chat marker or thinking
text; otherwise it gives the reason.
"""
NOTES = """\
How a model's template is chosen (`llm models show SPEC` says which one a model gets):
`--chat-template FILE|NAME` or the model's entry in config.toml's `[chat_templates]`, else
the GGUF's own `tokenizer.chat_template`, else a built-in format whose markers are special
tokens of the vocabulary (llama3, gemma, granite, phi3, deepseek3, chatml, mistral) when the
GGUF names a chat fine-tune, else none: a base model, whose text `llm run` completes to the
end of the line and which `llm chat` refuses.
"""


def main() -> int:
    from tests.hub_server import HubServer

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llm-matrix-") as tmp:
        work = Path(tmp)
        found = models(work)
        with HubServer(work / "hub") as hub:
            env = matrix_env(work, hub.url)
            pull_all(env, found)
            rows = []
            for model in found:
                cells = {c: cell(env, model.spec, c) for c in COMMANDS}
                print(f"{model.family}: {json.dumps(cells)}", file=sys.stderr, flush=True)
                rows.append((model, cells))
    DOC.write_text(render(rows, time.perf_counter() - start), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
