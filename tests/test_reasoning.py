"""Reasoning models: detection, and thinking text split from the answer as it streams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmcli.engine import Chunk, Completion, Stats, StreamEvent, join_stream
from llmcli.engine.reasoning import (
    HARMONY,
    TAGS,
    ThinkFormat,
    answer_suffix,
    detect,
    prompt_state,
    split,
)

THINK = TAGS[0]
TEMPLATES = "~/.cache/llmcli-build/llama-cpp-python-0.3.36/vendor/llama.cpp/models/templates"


def _split(pieces: list[str], fmt: ThinkFormat = THINK, state: str = "start") -> Completion:
    events: Iterator[StreamEvent] = iter(
        [*(Chunk(p) for p in pieces), Stats(5, len(pieces), 0.1, 0.2, "stop")]
    )
    return join_stream(split(events, fmt, state))


def test_a_think_block_is_set_apart_from_the_answer() -> None:
    done = _split(["<think>\nThe user wants a city.\n</think>\n\nParis."])
    assert done.reasoning == "The user wants a city."
    assert done.text == "Paris."


def test_tags_split_across_chunks() -> None:
    pieces = ["<", "th", "ink", ">", "Let me", " think.", "\n</", "thi", "nk>", "\n\nPar", "is."]
    done = _split(pieces)
    assert (done.reasoning, done.text) == ("Let me think.", "Paris.")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_any_chunking_gives_the_same_split(size: int) -> None:
    text = "<think>\nStep one. Step two.\n</think>\n\nThe answer is 4."
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    done = _split(pieces)
    assert (done.reasoning, done.text) == ("Step one. Step two.", "The answer is 4.")


def test_an_unclosed_block_at_the_end_stays_thinking() -> None:
    done = _split(["<think>", "I am still thinking about", " this when the tokens ran out"])
    assert done.text == ""
    assert done.reasoning == "I am still thinking about this when the tokens ran out"


def test_a_block_the_prompt_opened_is_thinking_until_it_closes() -> None:
    done = _split(["Okay, so 2+2.", "</think>", "\n\n4"], state="think")
    assert (done.reasoning, done.text) == ("Okay, so 2+2.", "4")


def test_a_reply_without_a_block_is_all_answer() -> None:
    done = _split(["Just ", "an answer that mentions <think> in passing."])
    assert done.reasoning == ""
    assert done.text == "Just an answer that mentions <think> in passing."


def test_a_lone_partial_marker_at_the_end_is_not_lost() -> None:
    assert _split(["<thi"]).text == "<thi"


def test_after_the_answer_starts_markers_are_text() -> None:
    done = _split(["<think>a</think>b", " <think>c</think>"])
    assert (done.reasoning, done.text) == ("a", "b <think>c</think>")


def test_gpt_oss_channels() -> None:
    pieces = [
        "<|channel|>analysis<|message|>User asks",
        " for the capital.<|end|><|start|>assistant<|chan",
        "nel|>final<|message|>Paris.",
    ]
    done = _split(pieces, HARMONY, "header")
    assert (done.reasoning, done.text) == ("User asks for the capital.", "Paris.")


def test_gpt_oss_without_end_markers_rendered() -> None:
    pieces = ["<|channel|>analysis<|message|>Hmm.<|start|>assistant<|channel|>final<|message|>Ok"]
    done = _split(pieces, HARMONY, "header")
    assert (done.reasoning, done.text) == ("Hmm.", "Ok")


def test_gpt_oss_template_on_a_model_that_writes_no_channels() -> None:
    assert _split(["Plain ", "text."], HARMONY, "header").text == "Plain text."


# The compatibility matrix found these: the bundled model under other families' templates.


def test_a_stray_close_marker_where_the_answer_starts_is_dropped() -> None:
    # the prompt closed the block (DeepSeek-R1's llama.cpp template, --no-think); the model
    # closed it again
    done = _split(["</th", "ink>\n", "Bom dia."], state="answer")
    assert (done.reasoning, done.text) == ("", "Bom dia.")


def test_a_block_the_model_opens_after_the_prompt_closed_one_is_thinking() -> None:
    done = _split(["<think>", "hmm</think>", "Blue."], state="answer")
    assert (done.reasoning, done.text) == ("hmm", "Blue.")


def test_the_open_marker_again_inside_a_block_the_prompt_opened_is_dropped() -> None:
    done = _split(["<think>", "hmm</think>Blue."], state="think")
    assert (done.reasoning, done.text) == ("hmm", "Blue.")


def test_gpt_oss_a_message_without_a_channel_is_the_answer() -> None:
    done = _split(["<|mess", "age|>Apple.", "<|message|> More."], HARMONY, "header")
    assert (done.reasoning, done.text) == ("", "Apple. More.")


def test_stats_pass_through_and_the_source_is_closed() -> None:
    closed: list[bool] = []

    def source() -> Iterator[StreamEvent]:
        try:
            yield Chunk("<think>x</think>y")
            yield Stats(1, 2, 0.0, 0.1, "length")
        finally:
            closed.append(True)

    events = list(split(source(), THINK))
    assert events[-1] == Stats(1, 2, 0.0, 0.1, "length")
    assert closed == [True]


# -- detection -------------------------------------------------------------------------------


def test_detect_from_the_template_and_its_switch() -> None:
    fmt = detect("{% if enable_thinking %}<think>\n{% endif %}", lambda t: False)
    assert fmt is not None and fmt.open == "<think>" and fmt.switch


def test_detect_from_the_vocabulary() -> None:
    fmt = detect("{{ messages }}", lambda t: t == "<think>")
    assert fmt is not None and fmt.source == "vocabulary"


def test_detect_gpt_oss() -> None:
    fmt = detect("<|start|>assistant<|channel|>analysis<|message|>", lambda t: False)
    assert fmt is not None and fmt.harmony


def test_a_plain_model_does_not_think() -> None:
    assert detect("<|im_start|>{{ m.content }}", lambda t: False) is None
    assert detect(None, lambda t: False) is None


def test_the_real_templates_detected() -> None:
    from pathlib import Path

    root = Path(TEMPLATES).expanduser()
    if not root.is_dir():
        pytest.skip("the llama-cpp-python sdist is not unpacked (make install does it)")
    read = {p.stem: p.read_text(encoding="utf-8") for p in root.glob("*.jinja")}
    never = lambda text: False  # noqa: E731
    assert detect(read["Qwen-Qwen3-0.6B"], never) == ThinkFormat(
        "think", "<think>", "</think>", switch=True
    )
    r1 = detect(read["deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"], never)
    assert r1 is not None and r1.open == "<think>"
    oss = detect(read["openai-gpt-oss-120b"], never)
    assert oss is not None and oss.harmony
    assert detect(read["meta-llama-Llama-3.2-3B-Instruct"], never) is None
    assert detect(read["Qwen-Qwen2.5-7B-Instruct"], never) is None


# -- the prompt side -------------------------------------------------------------------------


def test_prompt_states() -> None:
    assert prompt_state(THINK, "<|im_start|>assistant\n") == "start"
    assert prompt_state(THINK, "<｜Assistant｜><think>\n") == "think"
    assert prompt_state(THINK, "<|im_start|>assistant\n<think>\n\n</think>\n\n") == "answer"
    assert prompt_state(HARMONY, "<|start|>assistant") == "header"
    assert prompt_state(HARMONY, "<|start|>assistant<|channel|>final<|message|>") == "final"


def test_answer_suffix_closes_or_skips_the_block() -> None:
    assert answer_suffix(THINK, "<|im_start|>assistant\n") == "<think>\n\n</think>\n\n"
    assert answer_suffix(THINK, "<｜Assistant｜><think>\n") == "\n</think>\n\n"
    assert answer_suffix(THINK, "assistant\n<think>\n\n</think>\n\n") == ""
    assert answer_suffix(HARMONY, "<|start|>assistant") == "<|channel|>final<|message|>"


def test_a_model_known_by_its_vocabulary_only_gets_no_empty_block() -> None:
    fmt = detect("{{ messages }}", lambda t: t == "<think>")
    assert fmt is not None
    assert answer_suffix(fmt, "<|im_start|>assistant\n") == ""
    assert answer_suffix(fmt, "<|im_start|>assistant\n<think>\n") == "\n</think>\n\n"
