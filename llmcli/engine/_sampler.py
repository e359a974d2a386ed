"""Sampling over llama.cpp's sampler API (part of the native layer with `_native.py`:
llama_cpp and ctypes are touched only in these two files): the default chain and
grammar-constrained sampling.

Measured in docs/benchmarks.md (`bench structured`): llama-cpp-python's `generate(grammar=)`
puts the grammar first in its chain, so every token pays for checking the whole vocabulary.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

import llama_cpp

from llmcli.engine import PENALTY_LAST_N

if TYPE_CHECKING:
    from llmcli.engine import GenerationOptions
    from llmcli.engine._native import Native


def chain(n_vocab: int, options: GenerationOptions) -> Any:
    """llama.cpp's sampler chain as `Llama.generate` builds it (penalties, top-k, top-p,
    min-p, temperature, dist; penalties and greedy at temperature 0), with one step ahead:
    a top-(k + N) cut, N = PENALTY_LAST_N. The penalties look up every candidate in a hash
    map (~0.4 ms a token over a 49k vocabulary) and only ever lower at most N tokens, so the
    k best after them are among the k + N best before them: the same tokens, seed for seed."""
    lib = llama_cpp
    seed = options.seed if options.seed is not None else lib.LLAMA_DEFAULT_SEED
    greedy = options.temperature <= 0  # settings hold it to 0..5
    keep = 1 if greedy else options.top_k
    steps = []
    if options.repeat_penalty != 1.0 and keep > 0 and keep + PENALTY_LAST_N < n_vocab:
        steps.append(lib.llama_sampler_init_top_k(keep + PENALTY_LAST_N))
    steps.append(
        lib.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, options.repeat_penalty, 0, 0)
    )
    if greedy:
        steps.append(lib.llama_sampler_init_greedy())
    else:
        steps += [
            lib.llama_sampler_init_top_k(options.top_k),
            lib.llama_sampler_init_top_p(options.top_p, 1),
            lib.llama_sampler_init_min_p(options.min_p, 1),
            lib.llama_sampler_init_temp(options.temperature),
            lib.llama_sampler_init_dist(seed),
        ]
    sampler = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    for step in steps:
        lib.llama_sampler_chain_add(sampler, step)
    return sampler


class Free:
    """The default chain over the context's last logits: llama.cpp fills the candidates,
    applies the chain and accepts the token, all in C."""

    def __init__(self, n_vocab: int, options: GenerationOptions) -> None:
        self.chain = chain(n_vocab, options)

    def sample(self, ctx: Any) -> int:
        return int(llama_cpp.llama_sampler_sample(self.chain, ctx, -1))

    def free(self) -> None:
        if self.chain:
            llama_cpp.llama_sampler_free(self.chain)
        self.chain = None


class Constrained:
    """A sampler chain and a grammar as llama.cpp's own tools use them: sample without the
    grammar and check that one token; only when it is rejected, sample again among the
    SUBSET likeliest tokens the grammar allows (the whole vocabulary when too few are)."""

    SUBSET = 512

    def __init__(self, native: Native, options: GenerationOptions, grammar: str) -> None:
        import numpy as np

        lib = llama_cpp
        self.n_vocab = int(native.llama.n_vocab())
        self.chain = chain(self.n_vocab, options)
        greedy = options.temperature <= 0
        self.grammar = lib.llama_sampler_init_grammar(native.vocab, grammar.encode(), b"root")
        # the subset gives the same top-k as the whole vocabulary once it holds k allowed
        self.need = 1 if greedy else (options.top_k if 0 < options.top_k <= 64 else 0)
        self.cells = (lib.llama_token_data * self.n_vocab)()
        self.view = np.ctypeslib.as_array(self.cells)  # a structured view: id, logit, p
        self.view["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self.pristine = bytes(self.cells)  # ids in order, p = 0: copied back before each use
        self.sub = (lib.llama_token_data * self.SUBSET)()
        self.sub_view = np.ctypeslib.as_array(self.sub)

    def _logits(self, ctx: Any) -> Any:
        import numpy as np

        ptr = llama_cpp.llama_get_logits_ith(ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _all(self, logits: Any) -> Any:
        ctypes.memmove(self.cells, self.pristine, len(self.pristine))
        self.view["logit"] = logits
        return llama_cpp.llama_token_data_array(self.cells, self.n_vocab, -1, False)

    def _pick(self, array: Any, *, constrain: bool) -> int:
        if constrain:
            llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(array))
        llama_cpp.llama_sampler_apply(self.chain, ctypes.byref(array))
        return int(array.data[array.selected].id)

    def _allowed(self, token: int) -> bool:
        one = (llama_cpp.llama_token_data * 1)((token, 1.0, 0.0))
        llama_cpp.llama_sampler_apply(
            self.grammar, ctypes.byref(llama_cpp.llama_token_data_array(one, 1, -1, False))
        )
        return bool(one[0].logit != float("-inf"))

    def _resample(self, logits: Any) -> int:
        import numpy as np

        if self.need:
            top = np.argpartition(logits, -self.SUBSET)[-self.SUBSET :]
            self.sub_view["id"], self.sub_view["logit"], self.sub_view["p"] = top, logits[top], 0
            subset = llama_cpp.llama_token_data_array(self.sub, self.SUBSET, -1, False)
            llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(subset))
            if np.count_nonzero(self.sub_view["logit"] != -np.inf) >= self.need:
                return self._pick(subset, constrain=False)
        return self._pick(self._all(logits), constrain=True)

    def sample(self, ctx: Any) -> int:
        logits = self._logits(ctx)
        token = self._pick(self._all(logits), constrain=False)
        if not self._allowed(token):
            token = self._resample(logits)
        llama_cpp.llama_sampler_accept(self.grammar, token)
        llama_cpp.llama_sampler_accept(self.chain, token)
        return token

    def free(self) -> None:
        for sampler in (self.chain, self.grammar):
            if sampler:
                llama_cpp.llama_sampler_free(sampler)
        self.chain = self.grammar = None
