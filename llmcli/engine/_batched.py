"""Several independent prompts decoded together in one context (part of the native layer
with `_native.py` and `_sampler.py`): what llama-server's slots and vLLM do, in-process.

The prompts' common prefix (a task's template: system prompt, examples) is evaluated once in
sequence 0, where the prefix cache keeps it; each prompt is a sequence of its own that shares
those cells (`llama_memory_seq_cp`), then every step decodes one token of every unfinished
sequence in one `llama_decode`. Each sequence has its own sampler chain, so a greedy run
gives each prompt the reply it gets alone, up to the rounding of batched kernels.
Afterwards only sequence 0's prefix is left in the KV cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import llama_cpp

if TYPE_CHECKING:
    from collections.abc import Iterator

    from llmcli.engine import GenerationOptions
    from llmcli.engine._native import Native


Done = Callable[[int, int], bool]  # (prompt index, token just sampled) -> that reply is over


@contextmanager
def parallel_context(sequences: int) -> Iterator[None]:
    """Contexts made inside (for `EngineParams.sequences` > 1; other contexts are made as
    llama-cpp-python makes them) hold `sequences` + 1 sequences (one more: the shared
    prefix) over one unified KV cache (the whole n_ctx for any one of them, as with a
    single sequence, and no more memory), with
    llama.cpp's own flash-attention default (auto: on where the backend has it, as in
    llama-server; llama-cpp-python's `Llama` turns it off). Flash attention skips the cells
    of other sequences; without it they enter the softmax sums as zeros and shift the logits
    by up to 0.5 on the bundled model. Batched matrix kernels still round differently from a
    single token's, so a greedy reply can part from its single-path twin after a few tokens
    (chrF of `translate --lines` is level: docs/benchmarks.md). `Llama` has no parameters
    for any of it."""
    module = llama_cpp.llama  # type: ignore[attr-defined]
    original = module.internals.LlamaContext

    class Context(original):  # type: ignore[misc, valid-type]
        def __init__(self, *, model: Any, params: Any, verbose: bool = True) -> None:
            params.n_seq_max, params.kv_unified = sequences + 1, True
            params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
            super().__init__(model=model, params=params, verbose=verbose)

    module.internals.LlamaContext = Context
    try:
        yield
    finally:
        module.internals.LlamaContext = original


def common_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least one of its own to evaluate."""
    limit = min(len(p) for p in prompts) - 1
    n = 0
    while n < limit and all(p[n] == prompts[0][n] for p in prompts):
        n += 1
    return n


def decode_many(
    native: Native,
    prompts: Sequence[list[int]],
    options: Sequence[GenerationOptions],
    done: Done,
) -> list[list[int]]:
    """Each prompt's sampled tokens, the one `done` ended it with included (the caller reads
    an end-of-generation token as the end, as the single path does)."""
    from llmcli.engine._sampler import chain

    assert 0 < len(prompts) < native.sequences_max, "the caller splits larger groups"
    shared = common_prefix(prompts)
    native.eval_with_reuse(list(prompts[0][:shared]))  # sequence 0 keeps the prefix
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(native.llama.ctx), -1, shared, -1)
    n_vocab = int(native.llama.n_vocab())
    chains = [chain(n_vocab, each) for each in options]  # a penalty history each
    run = _Run(native, len(prompts))
    try:
        return run.generate(prompts, shared, chains, done)
    finally:
        for sampler in chains:
            llama_cpp.llama_sampler_free(sampler)
        run.close()
        native.truncate(shared)


class _Run:
    """One batched decode: its batch, the sequences' positions and their logit rows."""

    def __init__(self, native: Native, n: int) -> None:
        self.native = native
        self.ctx = native.llama.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.size = int(native.llama.n_batch)
        self.batch = llama_cpp.llama_batch_init(self.size, 0, 1)
        self.n = n

    def generate(
        self, prompts: Sequence[list[int]], shared: int, chains: list[Any], done: Done
    ) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in prompts]
        for s in range(self.n):
            llama_cpp.llama_memory_seq_cp(self.memory, 0, s + 1, 0, shared)
        pos = [len(p) for p in prompts]
        self._first_tokens(prompts, shared, chains, out)
        active = [s for s in range(self.n) if not self._over(s, out, done)]
        while active:
            rows = self._decode([(s, out[s][-1], pos[s]) for s in active], set(active))
            for s in active:
                pos[s] += 1
                out[s].append(self._sample(chains[s], rows[s]))
            active = [s for s in active if not self._over(s, out, done)]
        return out

    def _first_tokens(
        self, prompts: Sequence[list[int]], shared: int, chains: list[Any], out: list[list[int]]
    ) -> None:
        """Evaluate every prompt's own tokens, a batch at a time, and sample each prompt's
        first token right after the batch that holds its last one (the next decode
        overwrites the logits)."""
        cells = [
            (s, t, shared + j) for s, p in enumerate(prompts) for j, t in enumerate(p[shared:])
        ]
        for at in range(0, len(cells), self.size):
            part = cells[at : at + self.size]
            ending = {s for s, _, p in part if p == len(prompts[s]) - 1}
            rows = self._decode(part, ending)
            for s in sorted(ending):
                out[s].append(self._sample(chains[s], rows[s]))

    def _sample(self, sampler: Any, row: int) -> int:
        return int(llama_cpp.llama_sampler_sample(sampler, self.ctx, row))

    def _over(self, s: int, out: list[list[int]], done: Done) -> bool:
        """Whether sequence s has ended; its cells are freed for the others if it has."""
        if not done(s, out[s][-1]):
            return False
        llama_cpp.llama_memory_seq_rm(self.memory, s + 1, -1, -1)
        return True

    def _decode(self, cells: Sequence[tuple[int, int, int]], want: set[int]) -> dict[int, int]:
        """One llama_decode of (sequence, token, position) cells; the logit row of each
        sequence in `want` (its last cell here)."""
        batch, rows = self.batch, {}
        for i, (s, token, p) in enumerate(cells):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, p, 1
            batch.seq_id[i][0] = s + 1
            batch.logits[i] = False
            if s in want:
                rows[s] = i
        for i in rows.values():
            batch.logits[i] = True
        batch.n_tokens = len(cells)
        self.native.balance()
        code = llama_cpp.llama_decode(self.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        return rows

    def close(self) -> None:
        for s in range(self.n):
            llama_cpp.llama_memory_seq_rm(self.memory, s + 1, -1, -1)
        llama_cpp.llama_batch_free(self.batch)
