"""Our sampling loop on llama.cpp's native chain against `Llama.generate`: the same tokens,
seed for seed, and the context left as `generate` leaves it (the prefix cache reads it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest

from llmcli.engine import GenerationOptions
from llmcli.engine._native import LogSink, Native, load

N = 48
PROMPT = (
    "<|im_start|>user\nWrite a long story about a lighthouse keeper and the sea."
    "<|im_end|>\n<|im_start|>assistant\n"
)
CASES = [
    GenerationOptions(seed=7),
    GenerationOptions(seed=11, temperature=1.5, top_k=100, top_p=1.0, min_p=0.0),
    GenerationOptions(temperature=0),
    GenerationOptions(seed=3, top_k=0),
    GenerationOptions(seed=5, repeat_penalty=1.0),
    GenerationOptions(seed=9, repeat_penalty=1.5, top_k=5),
]


@pytest.fixture(scope="module")
def native(bundled_gguf: Path) -> Iterator[Native]:
    threads = int(os.environ.get("LLMCLI_TEST_THREADS", "2"))
    loaded = load(bundled_gguf, n_ctx=1024, gpu="0", threads=threads, sink=LogSink())
    yield loaded
    loaded.close()


def _reference(native: Native, tokens: list[int], o: GenerationOptions) -> list[int]:
    native.clear()
    native.llama.set_seed(o.seed if o.seed is not None else 0)
    stream = native.llama.generate(
        tokens,
        top_k=o.top_k,
        top_p=o.top_p,
        min_p=o.min_p,
        temp=o.temperature,
        repeat_penalty=o.repeat_penalty,
    )
    return list(islice(stream, N))


@pytest.mark.parametrize("options", CASES, ids=lambda o: f"t{o.temperature}-k{o.top_k}")
def test_same_tokens_as_llama_generate(native: Native, options: GenerationOptions) -> None:
    tokens = native.tokenize(PROMPT, special=True)
    expected = _reference(native, tokens, options)
    native.clear()
    ours = list(islice(native.sample(tokens, options), N))
    assert ours == expected
    # the last token is yielded, not yet evaluated: the context holds the ones before it
    assert native.n_tokens == len(tokens) + N - 1
    assert native.holds(tokens + ours[:-1])


def test_a_second_prompt_reuses_the_prefix_and_samples_the_same(native: Native) -> None:
    tokens = native.tokenize(PROMPT, special=True)
    options = GenerationOptions(seed=21)
    native.clear()
    first = list(islice(native.sample(tokens, options), N))
    again = list(islice(native.sample(tokens, options), N))  # prefix kept, tail re-evaluated
    assert again == first


class Rebalance:
    """A balancer that asks for a new thread count on every tick (threads.Balancer's
    contract: a count when it changed, else None)."""

    def __init__(self) -> None:
        self.ticks = 0

    def tick(self) -> int | None:
        self.ticks += 1
        return 1

    def close(self) -> None:
        pass


def test_thread_changes_between_decodes_keep_the_tokens(native: Native) -> None:
    tokens = native.tokenize(PROMPT, special=True)
    options = GenerationOptions(seed=4)
    native.clear()
    expected = list(islice(native.sample(tokens, options), N))
    native.clear()
    balancer = Rebalance()
    native.balancer = balancer  # type: ignore[assignment]
    try:
        ours = list(islice(native.sample(tokens, options), N))
    finally:
        native.balancer = None
    assert ours == expected
    assert balancer.ticks >= N  # asked before each decode: the prompt and every token


def _steps(options: GenerationOptions, n_vocab: int = 49152) -> list[str]:
    import llama_cpp

    from llmcli.engine._sampler import chain

    sampler = chain(n_vocab, options)
    try:
        n = llama_cpp.llama_sampler_chain_n(sampler)
        names = [llama_cpp.llama_sampler_chain_get(sampler, i) for i in range(n)]
        # llama.cpp names a step that does nothing (top-k 0) "?top-k"
        return [llama_cpp.llama_sampler_name(s).decode().lstrip("?") for s in names]
    finally:
        llama_cpp.llama_sampler_free(sampler)


def test_the_cut_ahead_of_the_penalties_is_there_only_when_it_changes_nothing() -> None:
    default = ["top-k", "penalties", "top-k", "top-p", "min-p", "temp", "dist"]
    assert _steps(GenerationOptions()) == default
    assert _steps(GenerationOptions(temperature=0)) == ["top-k", "penalties", "greedy"]
    assert _steps(GenerationOptions(top_k=0)) == default[1:]  # no k: every candidate counts
    assert _steps(GenerationOptions(repeat_penalty=1.0)) == default[1:]  # no penalties
    assert _steps(GenerationOptions(top_k=40), n_vocab=100) == default[1:]  # k + 64 >= vocab


def test_a_thread_change_is_logged(native: Native) -> None:
    native.balancer = Rebalance()  # type: ignore[assignment]
    try:
        native.eval(native.tokenize("Hello", special=True))
    finally:
        native.balancer = None
    assert "llmcli: now on 1 threads\n" in native.sink.lines
