"""Label scoring on llama-server: the log-probability of each candidate as the reply's start.

llama-server's `/completion` reports, with `n_probs`, the probability of each sampled token
under the model's full distribution before sampling (`get_token_probabilities`, raw logits).
A `logit_bias` on one token makes that token the sampled one, so one request of one token
gives its exact log-probability after a given prefix. The labels' first tokens all come from
one evaluation, as in-process: the first request also returns the top `TOP` alternatives of
the same logit row (a second evaluation of the same prompt on the server goes through
another batch size and differs in the third decimal). A first token outside the top, and
each later token of a longer label, costs one more forced request. The server's prompt cache
keeps the template's shared prefix evaluated between texts. Label tokens are taken as they
appear after the rendered prompt, as in-process (`engine/scoring.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmcli.engine import Message
from llmcli.engine.remote_tokens import LlamaServerTokens
from llmcli.errors import ContextOverflowError, LlmError, ServerError

FORCE = 1000.0  # a logit bias no other token can beat
TOP = 100  # alternatives returned with the first forced token (about 8 kB of JSON)


def score(
    tokens: LlamaServerTokens, n_ctx: int, messages: Sequence[Message], candidates: Sequence[str]
) -> list[float]:
    text = tokens.prompt_text(messages)
    prompt = tokens.prompt_tokens(text)
    labels = [continuation(tokens, prompt, text, c) for c in candidates]
    longest = max((len(t) for t in labels), default=0)
    if len(prompt) + longest > n_ctx:
        raise ContextOverflowError(len(prompt) + longest, n_ctx, what="the text")
    first = first_logprobs(tokens, prompt, [label[0] for label in labels])
    return [
        first[label[0]]
        + sum(logprob(tokens, [*prompt, *label[:i]], t)[t] for i, t in enumerate(label) if i)
        for label in labels
    ]


def first_logprobs(
    tokens: LlamaServerTokens, prompt: list[int], wanted: list[int]
) -> dict[int, float]:
    """log P(t | prompt) for each wanted t, from one evaluation where the top allows."""
    found = logprob(tokens, prompt, wanted[0], top=TOP)
    for token in wanted:
        if token not in found:  # outside the top alternatives
            found[token] = logprob(tokens, prompt, token)[token]
    return found


def continuation(tokens: LlamaServerTokens, prompt: list[int], text: str, label: str) -> list[int]:
    """A label's tokens as they appear right after the prompt, not tokenized alone."""
    full = tokens.prompt_tokens(text + label)
    toks = full[len(prompt) :] if full[: len(prompt)] == prompt else tokens.tokenize(label)
    if not toks:
        raise LlmError(f"label {label!r} has no tokens")
    return toks


def logprob(
    tokens: LlamaServerTokens, prefix: list[int], token: int, *, top: int = 1
) -> dict[int, float]:
    """log P(token | prefix) from one forced one-token completion, with the `top` most
    likely tokens of the same distribution."""
    server = tokens.server
    data = server.post(
        "/completion",
        {
            "prompt": prefix,
            "n_predict": 1,
            "n_probs": top,
            "temperature": 0,
            "logit_bias": [[token, FORCE]],
            "cache_prompt": True,
        },
    )
    probs = data.get("completion_probabilities") if isinstance(data, dict) else None
    first = probs[0] if isinstance(probs, list) and probs else None
    if not isinstance(first, dict) or first.get("id") != token or "logprob" not in first:
        raise ServerError(f"{server.shown}/completion returned no log-probability for the label")
    found = {
        int(alt["id"]): float(alt["logprob"])
        for alt in first.get("top_logprobs") or []
        if isinstance(alt, dict) and isinstance(alt.get("id"), int) and "logprob" in alt
    }
    found[token] = float(first["logprob"])
    return found
