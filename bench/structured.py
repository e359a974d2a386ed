"""Structured output: the cost of grammar-constrained sampling, and translate --lines with
batches held to N numbered rows by a grammar against the prompt-only and per-line paths.

Both in one process on the bundled model, side by side (interleaved rounds, medians):
- tokens/s of generation (after the first token) without a constraint, with a JSON schema
  through our sampler (one token checked against the grammar, the vocabulary only when it is
  rejected), and with the same grammar through llama-cpp-python's `generate(grammar=...)`
  (the grammar first in its chain: every token pays for the whole vocabulary);
- `translate --lines` on the first 12, 48 and all 100 FLORES dev lines: model calls, wall
  time, chrF with a paired bootstrap interval against one call per line, and rows left in
  English, for the lines decoded together (the default), the numbered-rows prompt (the
  default before; still the path on servers: batches the model does not number fall back
  to one call per line), the rows grammar (rows in English redone alone) and one call per
  line; the two slow numbered-rows paths only up to 48 lines.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import command, median, model_path, table, threads

EVAL = Path(os.environ.get("LLM_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared/eval"))
ROUNDS = int(os.environ.get("STRUCTURED_ROUNDS", "3"))
SIZES = (12, 48, 100)  # FLORES dev lines: the 12, then more to confirm, then all
SLOW_UP_TO = 48  # the slow paths (numbered rows, the rows grammar) only up to this size
BOOTSTRAP = 1000
MAX_TOKENS = 160
PROMPT = "Write a long story about a dragon who learns to read. Give it a title."
NOTES = """\
Where the cost of a schema went: llama-cpp-python's `generate(grammar=...)` puts the grammar
first in its sampler chain, so every token checks all 49,152 vocabulary entries against the
grammar (about 12 ms a token here). Our sampler (`engine/_sampler.py`) samples without the
grammar, checks that one token, and only for a rejected one (a third of the tokens in this
run) samples again among the 512 likeliest tokens the grammar allows, falling back to the
whole vocabulary when fewer than top-k of them are allowed. That took the constrained speed
from about half of the unconstrained to 0.92x (quiet machine, 2026-12-02 07:08); 0.80x
against 0.72x in this run, made under load.

translate --lines in-process now decodes its lines together (the default row): each line
gets the prompt it gets alone (translate.toml), and eight of them are sequences of one
context, one `llama_decode` per step for all (`engine/_batched.py`). With llama.cpp's flash
attention (translate's context turns it on, as llama-server has it) other sequences' cells
stay out of a prompt's attention; batched matrix kernels still round differently from one
token's, so a greedy reply can part from its one-at-a-time twin after a few tokens, and the
chrF of the two is level (every interval includes 0). On all 100 lines: 13 calls against
116, 116 s against 145 s at one thread; the 48-line walls went the other way in this run
(its sides ran at different moments while other work shared the machine; on one CPU thread
batching gains little either way: the cores and GPUs are where it pays). The numbered-rows paths are kept for servers (an
engine that does not decode prompts together). The rows path holds a batch to its rows by
grammar (each row at least 0.6 of its line's length, not opening with its line's first
word) and translates rows still in English again alone: SmolLM2-135M leaves most batch rows
in English, so it makes about as many calls as lines, at 2-3x the wall time: not used by
default. Leaving the source untranslated scores higher chrF than any of the model's
translations, hence the rows-in-English column. What else was tried: the header of
`llmcli/prompts/builtin/translate-lines.toml`."""
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "story": {"type": "string"}},
    "required": ["title", "story"],
    "additionalProperties": False,
}


def run() -> str:
    from llmcli.engine import BATCH_SEQUENCES, EngineParams
    from llmcli.engine.llama import LlamaEngine

    n_threads = int(os.environ.get("LLM_THREADS") or threads())
    params = EngineParams(model_path=model_path(), threads=n_threads, sequences=BATCH_SEQUENCES)
    engine = LlamaEngine.load(params)  # as translate loads it: made to decode lines together
    try:
        speed = _speed(engine)
        lines = _translate(engine)
    finally:
        engine.close()
    free = speed["free"]
    rows = [
        [name, f"{median(v):.1f}", f"{median(v) / median(free):.2f}x"] for name, v in speed.items()
    ]
    return "\n".join(
        [
            "## structured",
            "",
            f"Command: {command('structured')}, threads {n_threads}. Bundled model, in-process,"
            " loaded as translate loads it (8 sequences, flash attention),"
            f" {ROUNDS} interleaved rounds, medians; measured under load from other work on the"
            " machine: the ratios, measured side by side, are what count.",
            "",
            f"Generation speed with and without a JSON schema ({MAX_TOKENS} new tokens at most,"
            " temperature 0.7, the same seed; tokens/s after the first token):",
            "",
            table(["sampling", "tokens/s", "vs unconstrained"], rows),
            "",
            "`translate --lines` on the first 12, 48 and all 100 lines of `translate_dev.en`"
            " (EN->PT, greedy, one run each: the text is the same every time; the sides one"
            " after another, so their wall times take the load of their moment; the slow"
            " numbered-rows paths up to 48 lines), corpus chrF against"
            " `translate_dev.pt`; the interval is a paired bootstrap over lines"
            f" ({BOOTSTRAP} resamples, 95%) of the difference to one call per line; rows left"
            " in English: most of a row's words are its source line's (`_untranslated`):",
            "",
            table(
                ["lines", "path", "model calls", "wall s", "chrF", "vs per line", "in English"],
                lines,
            ),
            "",
            NOTES,
        ]
    )


# -- speed ----------------------------------------------------------------------------------


def _speed(engine: Any) -> dict[str, list[float]]:
    from llmcli.engine import GenerationOptions, Message

    tokens = engine.prompt_tokens([Message("user", PROMPT)])
    free = GenerationOptions(temperature=0.7, seed=7, max_tokens=MAX_TOKENS)
    constrained = GenerationOptions(temperature=0.7, seed=7, json_schema=SCHEMA)
    modes: dict[str, Callable[[], Iterator[int]]] = {
        "free": lambda: engine._native.sample(tokens, free),
        "schema, our sampler": lambda: engine._native.sample(tokens, constrained),
        "schema, llama-cpp-python generate()": lambda: _library_sampler(engine, tokens),
    }
    results: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(ROUNDS):
        for name, start in modes.items():
            results[name].append(_tokens_per_s(engine, start()))
    return results


def _library_sampler(engine: Any, tokens: list[int]) -> Iterator[int]:
    import llama_cpp

    from llmcli.engine.grammar import from_schema

    native = engine._native
    native.llama.set_seed(7)
    grammar = llama_cpp.LlamaGrammar.from_string(from_schema(SCHEMA), verbose=False)
    return iter(native.llama.generate(tokens, temp=0.7, repeat_penalty=1.1, grammar=grammar))


def _tokens_per_s(engine: Any, stream: Iterator[int]) -> float:
    native = engine._native
    native.clear()  # every mode evaluates the whole prompt
    count, first = 0, 0.0
    for token in stream:
        count += 1
        if count == 1:
            first = time.perf_counter()
        if native.is_eog(token) or count >= MAX_TOKENS:
            break
    return (count - 1) / (time.perf_counter() - first) if count > 1 else 0.0


# -- translate --lines ----------------------------------------------------------------------

SIDES = {  # name: (lines per batch, rows grammar, prompts decoded together)
    "each line alone, 8 decoded together (the default)": (8, False, True),
    "numbered rows, prompt only, batches of 8 (the default before)": (8, False, False),
    "rows grammar, batches of 4, English rows redone": (4, True, False),
    "one call per line": (1, False, False),
}
BASELINE = "one call per line"
_SLOW = ("numbered rows", "rows grammar")


def _translate(engine: Any) -> list[list[object]]:
    """One greedy run per side and size (the text is the same every time): calls, wall,
    chrF, its paired-bootstrap interval against one call per line, rows left in English."""
    from llmcli.tasks.rows import untranslated as _untranslated

    rows: list[list[object]] = []
    for size in SIZES:
        english = _read("translate_dev.en")[:size]
        reference = _read("translate_dev.pt")[:size]
        sides = {n: v for n, v in SIDES.items() if size <= SLOW_UP_TO or not n.startswith(_SLOW)}
        outs = {name: _side(engine, english, *side) for name, side in sides.items()}
        base = outs[BASELINE][0]
        outs["the English source itself (no model)"] = (english, 0, 0.0)
        for name, (done, calls, wall) in outs.items():
            low, high = _paired_interval(done, base, reference)
            left = sum(_untranslated(d, "", [e]) for d, e in zip(done, english, strict=True))
            delta = "" if name == BASELINE else f"{low:+.1f} .. {high:+.1f}"
            row = [size, name, calls or "", f"{wall:.0f}" if wall else ""]
            rows.append([*row, f"{_chrf(done, reference):.1f}", delta, f"{left}/{size}"])
    return rows


class _OneAtATime:
    """The engine without `complete_many`: the numbered-rows path, as before it had one."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        if name == "complete_many":
            raise AttributeError(name)
        return getattr(self._engine, name)


def _side(
    engine: Any, english: list[str], batch: int, grammar: bool, together: bool
) -> tuple[list[str], int, float]:
    from llmcli.config import Settings
    from llmcli.env import Environment
    from llmcli.prompts import load_template
    from llmcli.runtime import generation_options
    from llmcli.tasks.languages import resolve_language
    from llmcli.tasks.translate import Translator

    env = Environment()
    tmpl, lines_tmpl = load_template("translate", env), load_template("translate-lines", env)
    opts = generation_options(tmpl.settings, Settings())
    model = engine if together else _OneAtATime(engine)
    translator = Translator(
        model, tmpl, lines_tmpl, resolve_language("pt"), None, opts,
        batch=batch, constrain_lines=grammar,
    )  # fmt: skip
    start = time.perf_counter()
    done = list(translator.lines("\n".join(english)))
    return done, translator.model_calls, time.perf_counter() - start


def _paired_interval(ours: list[str], base: list[str], reference: list[str]) -> tuple[float, float]:
    """95% interval of corpus chrF(ours) - chrF(base) over lines resampled with replacement."""
    rng = random.Random(7)
    n = len(reference)
    deltas = []
    for _ in range(BOOTSTRAP):
        pick = [rng.randrange(n) for _ in range(n)]
        ref = [reference[i] for i in pick]
        deltas.append(_chrf([ours[i] for i in pick], ref) - _chrf([base[i] for i in pick], ref))
    deltas.sort()
    return deltas[int(0.025 * BOOTSTRAP)], deltas[int(0.975 * BOOTSTRAP) - 1]


def _chrf(candidates: list[str], reference: list[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_chrf(candidates, [reference]).score)


def _read(name: str) -> list[str]:
    return (EVAL / name).read_text(encoding="utf-8").splitlines()
