"""`LlamaEngine.complete_many`: independent prompts decoded together in one context.

Each prompt is prepared as `stream` prepares it (template, thinking switch, turn markers as
stops); `_batched.decode_many` samples all of them step by step, each ending at its own
end-of-generation token, stop string or token limit; then each prompt's tokens go through
the same text path as a stream (detokenizer, stops, thinking split, runaway guard), so a
batched reply reads exactly as a streamed one of the same tokens. Prompts go in groups of
at most `engine.sequences` whose cells fit the context together; a grammar or a schema
(one grammar state per sequence is not built here) sends the requests one by one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmcli.engine import Completion, GenerationOptions, Message, Request, generate, join_stream

if TYPE_CHECKING:
    from llmcli.engine.llama import LlamaEngine, Reply


@dataclass
class _Prompt:
    """One request made ready: its tokens, where it leaves the reply, options, its reply."""

    tokens: list[int]
    state: str
    options: GenerationOptions
    reply: Reply  # the single path's end test, token by token
    prefix: int  # the template's tokens (system prompt, examples): the prefix cache's entry


def complete_many(engine: LlamaEngine, requests: Sequence[Request]) -> list[Completion]:
    from llmcli.engine import grammar

    one_by_one = engine.sequences < 2  # a context not made for it (EngineParams.sequences)
    if one_by_one or any(grammar.grammar_text(options) is not None for _, options in requests):
        return [generate(engine, messages, options) for messages, options in requests]
    prompts = [_ready(engine, messages, options) for messages, options in requests]
    out: list[Completion] = []
    for group in _groups(engine, prompts):
        out += _decode(engine, group)
    return out


def _ready(engine: LlamaEngine, messages: Sequence[Message], options: GenerationOptions) -> _Prompt:
    tokens, state, options = engine._prepare(messages, options)
    reply = engine.reply(tokens, options)
    return _Prompt(tokens, state, options, reply, engine._template_prefix(messages, tokens))


def _groups(engine: LlamaEngine, prompts: list[_Prompt]) -> Iterator[list[_Prompt]]:
    """Runs of prompts whose own tokens and replies fit the context beside their shared
    prefix (counted as if none were shared: a safe bound), at most `engine.sequences` each."""
    group: list[_Prompt] = []
    used = 0
    for prompt in prompts:
        need = len(prompt.tokens) + prompt.reply.limit
        if group and (len(group) == engine.sequences or used + need > engine.n_ctx):
            yield group
            group, used = [], 0
        group.append(prompt)
        used += need
    if group:
        yield group


def _decode(engine: LlamaEngine, group: list[_Prompt]) -> list[Completion]:
    from llmcli.engine._batched import common_prefix, decode_many

    def done(s: int, token: int) -> bool:  # the text is made again below, from the tokens
        reply = group[s].reply
        reply.take(token)
        return reply.reason is not None

    start = time.perf_counter()
    tokens = [p.tokens for p in group]
    shared = common_prefix(tokens)
    engine._use_prefix_cache(tokens[0], min(shared, group[0].prefix))  # never the inputs
    sampled = decode_many(engine._native, tokens, [p.options for p in group], done)
    total = time.perf_counter() - start
    out = []
    for i, (prompt, reply) in enumerate(zip(group, sampled, strict=True)):
        events = engine._emit(prompt.tokens, iter(reply), prompt.options, start)
        completion = join_stream(engine._finish(events, prompt.tokens, prompt.state))
        stats = dataclasses.replace(completion.stats, total_s=total)  # they ran together
        out.append(dataclasses.replace(completion, stats=stats, opens_call=i == 0))
    return out
