"""`LlamaEngine.complete_many` on the bundled model: independent prompts decoded together
in one context. What the replies say is the bench's business (bench/structured.py: chrF
against one call per line; batched matrix kernels round differently from one token's, so
greedy replies can part after a few tokens); here, that each prompt gets its own well-formed
completion, the limits and stops hold per prompt, and the context is left as the single path
expects."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmcli.engine import BATCH_SEQUENCES as SEQUENCES
from llmcli.engine import EngineParams, GenerationOptions, Message, generate
from llmcli.engine.llama import LlamaEngine

GREEDY = GenerationOptions(temperature=0, top_k=1, repeat_penalty=1.2, max_tokens=24)
TOPICS = ["the sea", "a cat", "bread", "rain", "the moon", "a train", "music", "snow", "tea"]


@pytest.fixture(scope="module")
def engine(bundled_gguf: Path) -> Iterator[LlamaEngine]:
    threads = int(os.environ.get("LLMCLI_TEST_THREADS", "2"))
    loaded = LlamaEngine.load(
        EngineParams(model_path=bundled_gguf, threads=threads, n_ctx=1024, sequences=SEQUENCES)
    )
    yield loaded
    loaded.close()


def ask(topic: str) -> list[Message]:
    return [Message("user", f"Write one sentence about {topic}.")]


def test_every_prompt_gets_its_own_completion_in_order(engine: LlamaEngine) -> None:
    requests = [(ask(t), GREEDY) for t in TOPICS]  # more than one group of SEQUENCES
    assert len(TOPICS) > SEQUENCES
    done = engine.complete_many(requests)
    assert len(done) == len(TOPICS)
    for completion, (messages, _) in zip(done, requests, strict=True):
        stats = completion.stats
        assert completion.text.strip()
        assert stats.prompt_tokens == engine.count_prompt_tokens(messages)
        assert 0 < stats.generated_tokens <= (GREEDY.max_tokens or 0)
        assert stats.finish_reason in ("stop", "length")
    assert len({c.text for c in done}) > len(done) // 2  # not one reply copied around


def test_limits_and_stops_hold_for_each_prompt(engine: LlamaEngine) -> None:
    short = GenerationOptions(temperature=0, max_tokens=3)
    long = GenerationOptions(temperature=0, max_tokens=40, stop=(" ",))
    done = engine.complete_many([(ask("bread"), short), (ask("rain"), long)])
    assert done[0].stats.generated_tokens == 3 and done[0].stats.finish_reason == "length"
    assert " " not in done[1].text.strip()  # cut at its first space, the stop string
    assert done[1].stats.finish_reason == "stop"


def test_the_context_is_left_for_the_single_path(engine: LlamaEngine) -> None:
    for _ in range(3):  # the cells of finished prompts are freed: nothing piles up
        engine.complete_many([(ask(t), GREEDY) for t in TOPICS[:SEQUENCES]])
    words = "word " * engine.n_ctx
    body = engine.detokenize(engine.tokenize(words)[: engine.n_ctx - 48])
    nearly_full = [Message("user", body)]
    assert engine.n_ctx - 48 < engine.count_prompt_tokens(nearly_full) < engine.n_ctx - 8
    done = generate(engine, nearly_full, GenerationOptions(temperature=0, max_tokens=4))
    assert done.stats.prompt_tokens == engine.count_prompt_tokens(nearly_full)
    assert done.stats.finish_reason in ("stop", "length")  # llama_decode found room for it


def test_a_grammar_sends_the_prompts_one_by_one(engine: LlamaEngine) -> None:
    digits = GenerationOptions(temperature=0, max_tokens=8, grammar='root ::= [0-9]+ "."')
    done = engine.complete_many([(ask("the moon"), digits), (ask("snow"), digits)])
    assert [c.text.rstrip(".").isdigit() for c in done] == [True, True]


def test_a_context_not_made_for_it_answers_one_by_one(bundled_gguf: Path) -> None:
    threads = int(os.environ.get("LLMCLI_TEST_THREADS", "2"))
    single = LlamaEngine.load(EngineParams(model_path=bundled_gguf, threads=threads, n_ctx=512))
    try:
        assert single.sequences == 1
        requests = [(ask(t), GREEDY) for t in ("bread", "rain")]
        done = single.complete_many(requests)
        alone = [generate(single, m, o) for m, o in requests]
        assert [c.text for c in done] == [c.text for c in alone]  # the same path, one by one
    finally:
        single.close()
