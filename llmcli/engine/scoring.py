"""Label scoring: the log-probability of each candidate as the start of the reply.

One evaluation of the prompt gives the first token's distribution; a label of several tokens
costs one more batch for its tail, with a logit row per token. The prompt stays in the KV
cache between labels and between calls that share it (a batch of texts).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmcli.engine._native import Native
from llmcli.errors import ContextOverflowError, LlmError


def candidate_tokens(
    native: Native, prompt: list[int], candidates: Sequence[str]
) -> list[list[int]]:
    """Each candidate's tokens after the prompt; refused when prompt and label do not fit."""
    text = prompt_text(native, prompt)
    cand_tokens = [continuation_tokens(native, prompt, text, c) for c in candidates]
    longest = max((len(c) for c in cand_tokens), default=0)
    if len(prompt) + longest > native.n_ctx:
        raise ContextOverflowError(len(prompt) + longest, native.n_ctx, what="the text")
    return cand_tokens


def score(native: Native, prompt: list[int], cand_tokens: Sequence[list[int]]) -> list[float]:
    """Summed log-probabilities of each candidate's tokens after `prompt`."""
    native.eval_with_reuse(prompt)
    first = native.logprobs(-1)
    base = native.n_tokens
    scores: list[float] = []
    for toks in cand_tokens:
        total = float(first[toks[0]])
        if len(toks) > 1:  # one batch for the rest of the label, a logit row per token
            native.eval_rows(toks[:-1])
            total += sum(float(native.logprobs(i)[t]) for i, t in enumerate(toks[1:]))
            native.truncate(base)  # drop the label; the prompt stays cached
        scores.append(total)
    return scores


def prompt_text(native: Native, tokens: Sequence[int]) -> str:
    """The prompt as text with its special tokens spelled out, so it tokenizes back."""
    data = b"".join(native.token_bytes(t, special=True) for t in tokens)
    return data.decode("utf-8", errors="replace")


def continuation_tokens(
    native: Native, prompt: list[int], prompt_text: str, candidate: str
) -> list[int]:
    """A label's tokens as they appear right after the prompt, not tokenized alone."""
    full = native.tokenize(prompt_text + candidate, special=True)
    body = prompt[1:] if prompt and full[:1] != prompt[:1] else prompt  # a BOS added apart
    # When the label merges with the prompt's last token, the prompt's tokens still win.
    toks = full[len(body) :] if full[: len(body)] == body else native.tokenize(candidate)
    if not toks:
        raise LlmError(f"label {candidate!r} has no tokens")
    return toks
