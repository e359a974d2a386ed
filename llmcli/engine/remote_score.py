"""Label scoring on llama-server: the log-probability of each candidate as the reply's start.

llama-server's `/completion` reports, with `n_probs`, the probability of each sampled token
under the model's full distribution before sampling (`get_token_probabilities`, raw logits).
A `logit_bias` on one token makes that token the sampled one, so one request of one token
gives its exact log-probability after a given prefix; a label of k tokens costs k requests,
and the server's prompt cache keeps the shared prompt evaluated between them. The labels'
tokens are taken as they appear after the rendered prompt, as in-process (`engine/scoring.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmcli.engine import Message
from llmcli.engine.remote_tokens import LlamaServerTokens
from llmcli.errors import ContextOverflowError, LlmError, ServerError

FORCE = 1000.0  # a logit bias no other token can beat


def score(
    tokens: LlamaServerTokens, n_ctx: int, messages: Sequence[Message], candidates: Sequence[str]
) -> list[float]:
    text = tokens.prompt_text(messages)
    prompt = tokens.prompt_tokens(text)
    labels = [continuation(tokens, prompt, text, c) for c in candidates]
    longest = max((len(t) for t in labels), default=0)
    if len(prompt) + longest > n_ctx:
        raise ContextOverflowError(len(prompt) + longest, n_ctx, what="the text")
    return [
        sum(logprob(tokens, [*prompt, *label[:i]], t) for i, t in enumerate(label))
        for label in labels
    ]


def continuation(tokens: LlamaServerTokens, prompt: list[int], text: str, label: str) -> list[int]:
    """A label's tokens as they appear right after the prompt, not tokenized alone."""
    full = tokens.prompt_tokens(text + label)
    toks = full[len(prompt) :] if full[: len(prompt)] == prompt else tokens.tokenize(label)
    if not toks:
        raise LlmError(f"label {label!r} has no tokens")
    return toks


def logprob(tokens: LlamaServerTokens, prefix: list[int], token: int) -> float:
    """log P(token | prefix), from one forced one-token completion."""
    server = tokens.server
    data = server.post(
        "/completion",
        {
            "prompt": prefix,
            "n_predict": 1,
            "n_probs": 1,
            "temperature": 0,
            "logit_bias": [[token, FORCE]],
            "cache_prompt": True,
        },
    )
    probs = data.get("completion_probabilities") if isinstance(data, dict) else None
    first = probs[0] if isinstance(probs, list) and probs else None
    if not isinstance(first, dict) or first.get("id") != token or "logprob" not in first:
        raise ServerError(f"{server.shown}/completion returned no log-probability for the label")
    return float(first["logprob"])
