"""Where the time of one generated token goes, in-process (a child of bench/concurrency.py).

`python -m bench.pertoken MODEL THREADS` prints JSON, microseconds per token, best of
ROUNDS x CALLS: one `llama_decode` of one token; the Python around it in llama-cpp-python's
`Llama.eval([t])` and in our `Native.decode_one(t)` (with `llama_decode` replaced by a no-op);
and one `llama_sampler_sample` with `Llama.generate`'s chain and with ours (_sampler.chain).
"""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path

import llama_cpp as lib

from llmcli.engine import PENALTY_LAST_N, GenerationOptions
from llmcli.engine._native import LogSink, Native, load
from llmcli.engine._sampler import chain

ROUNDS = 5
CALLS = 100
PROMPT = "<|im_start|>user\nWrite an essay about the sea.<|im_end|>\n<|im_start|>assistant\n"


def _best(fn: object) -> float:
    return min(timeit.repeat(fn, number=CALLS, repeat=ROUNDS)) / CALLS * 1e6  # type: ignore[arg-type]


def _generate_chain(n_vocab: int, o: GenerationOptions) -> object:
    """The chain `Llama._init_sampler` builds for these options (typical_p 1 does nothing)."""
    sampler = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    steps = [
        lib.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, o.repeat_penalty, 0, 0),
        lib.llama_sampler_init_top_k(o.top_k),
        lib.llama_sampler_init_top_p(o.top_p, 1),
        lib.llama_sampler_init_min_p(o.min_p, 1),
        lib.llama_sampler_init_temp(o.temperature),
        lib.llama_sampler_init_dist(42),
    ]
    for step in steps:
        lib.llama_sampler_chain_add(sampler, step)
    return sampler


def measure(native: Native) -> dict[str, float]:
    llama = native.llama
    tokens = native.tokenize(PROMPT, special=True)
    native.eval(tokens)
    at = llama.n_tokens
    token = tokens[-1]

    def via_eval() -> None:
        llama.n_tokens = at
        llama.eval([token])

    def via_decode_one() -> None:
        llama.n_tokens = at
        native.decode_one(token)

    def decode() -> None:
        llama._ctx.kv_cache_seq_rm(-1, at, -1)  # the same position each time
        one = (lib.llama_token * 1)(token)
        lib.llama_decode(llama.ctx, lib.llama_batch_get_one(one, 1))

    options = GenerationOptions(seed=42)
    n_vocab = int(llama.n_vocab())
    theirs, ours = _generate_chain(n_vocab, options), chain(n_vocab, options)
    ctx = llama.ctx
    result = {
        "decode_us": _best(decode),
        "generate_chain_us": _best(lambda: lib.llama_sampler_sample(theirs, ctx, -1)),
        "our_chain_us": _best(lambda: lib.llama_sampler_sample(ours, ctx, -1)),
    }
    # Python around the decode only: llama-cpp-python calls it through its submodule
    real, noop = lib.llama_decode, lambda *a: 0
    lib.llama_decode = lib.llama_cpp.llama_decode = noop
    try:
        result["llama_eval_python_us"] = _best(via_eval)
        result["decode_one_python_us"] = _best(via_decode_one)
    finally:
        lib.llama_decode = lib.llama_cpp.llama_decode = real
    for sampler in (theirs, ours):
        lib.llama_sampler_free(sampler)
    return result


def main(argv: list[str]) -> None:
    model, threads = argv
    native = load(Path(model), n_ctx=4096, gpu="0", threads=int(threads), sink=LogSink())
    try:
        json.dump(measure(native), sys.stdout)
    finally:
        native.close()


if __name__ == "__main__":
    main(sys.argv[1:])
