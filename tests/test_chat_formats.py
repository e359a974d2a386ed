"""Which template a model gets: override, its own, a built-in format its vocabulary really
has, or none (a base model); and how the CLI passes --chat-template and [chat_templates]."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcli.engine import Message
from llmcli.engine.chatformat import render_chat
from llmcli.engine.formats import (
    BASE_STOPS,
    builtin_formats,
    choose_format,
    choose_template,
    looks_tuned,
    raw_prompt,
    read_override,
    template_stops,
    thinking_support,
)
from llmcli.errors import ChatTemplateError
from tests.conftest import Runner
from tests.fake_engine import FakeEngine


def _vocab(*tokens: str) -> object:
    special = set(tokens)
    return lambda text: text in special


CONVERSATION = [
    Message("system", "Be brief."),
    Message("user", "Hi"),
    Message("assistant", "Hello."),
    Message("user", "Name a fruit."),
]


@pytest.mark.parametrize(
    ("tokens", "name"),
    [
        (("<start_of_turn>", "<end_of_turn>"), "gemma"),
        (("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_start|>"), "llama3"),
        (("<|im_start|>", "<|im_end|>"), "chatml"),
        (("[INST]", "[/INST]"), "mistral"),
        (("<|user|>", "<|assistant|>", "<|end|>"), "phi3"),
        (("<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>"), "granite"),
    ],
)
def test_a_format_is_chosen_only_when_all_its_markers_are_tokens(
    tokens: tuple[str, ...], name: str
) -> None:
    fmt = choose_format(_vocab(*tokens))  # type: ignore[arg-type]
    assert fmt is not None and fmt.name == name


def test_no_format_when_the_markers_are_text() -> None:
    assert choose_format(_vocab("<|im_start|>")) is None  # type: ignore[arg-type]  # half
    assert choose_format(_vocab()) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(builtin_formats()))
def test_every_builtin_format_renders_a_conversation_with_its_markers(name: str) -> None:
    fmt = builtin_formats()[name]
    text = render_chat(CONVERSATION, fmt.template, bos_token="<s>", eos_token="</s>")
    for marker in fmt.markers:
        assert marker in text
    for part in ("Be brief.", "Hi", "Hello.", "Name a fruit."):
        assert part in text
    assert text.index("Be brief.") < text.index("Hi") < text.index("Name a fruit.")
    assert fmt.stops and all(s in text or s == "<｜end▁of▁sentence｜>" for s in fmt.stops[:1])


def test_own_template_wins_and_its_end_markers_stop() -> None:
    own = "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}"
    choice = choose_template(own, None, _vocab())  # type: ignore[arg-type]
    assert (choice.kind, choice.template) == ("own", own)
    assert "<|im_end|>" in choice.stops
    assert template_stops("{{ messages }}") == ()


def test_base_model_when_untuned_even_with_chat_tokens() -> None:
    vocab = _vocab("<start_of_turn>", "<end_of_turn>")
    base = choose_template(None, None, vocab, tuned=False)  # type: ignore[arg-type]
    assert (base.kind, base.template, base.stops) == ("none", None, BASE_STOPS)
    tuned = choose_template(None, None, vocab, tuned=True)  # type: ignore[arg-type]
    assert (tuned.kind, tuned.name) == ("builtin", "gemma")
    assert "base model" in base.describe()


@pytest.mark.parametrize(
    ("meta", "tuned"),
    [
        ({"general.name": "Gemma 3 270m"}, False),
        ({"general.name": "gemma-3-270m-it"}, True),
        ({"general.finetune": "Instruct"}, True),
        ({"general.basename": "Qwen2.5-Chat"}, True),
        ({"general.name": "Italian base"}, False),
        ({}, False),
    ],
)
def test_looks_tuned(meta: dict[str, object], tuned: bool) -> None:
    assert looks_tuned(meta) is tuned


def test_raw_prompt_is_the_text_in_order() -> None:
    assert raw_prompt([Message("system", " "), Message("user", " Once upon ")]) == "Once upon"
    assert raw_prompt(CONVERSATION[:2]) == "Be brief.\n\nHi"


def test_override_by_name_or_file(tmp_path: Path) -> None:
    assert read_override("gemma").kind == "builtin"
    path = tmp_path / "t.jinja"
    path.write_text("{% for m in messages %}[INST]{{ m.content }}[/INST]{% endfor %}")
    choice = read_override(str(path))
    assert (choice.kind, choice.name) == ("override", str(path))
    assert choice.stops == ("[INST]", "[/INST]")
    for bad in (str(tmp_path / "missing.jinja"), "no-such-format"):
        with pytest.raises(ChatTemplateError, match="neither a file"):
            read_override(bad)
    (tmp_path / "empty.jinja").write_text(" ")
    with pytest.raises(ChatTemplateError, match="empty"):
        read_override(str(tmp_path / "empty.jinja"))
    (tmp_path / "bin.jinja").write_bytes(b"\xff\xfe")
    with pytest.raises(ChatTemplateError, match="cannot read"):
        read_override(str(tmp_path / "bin.jinja"))


def test_thinking_detection() -> None:
    assert thinking_support("{% if enable_thinking %}{% endif %}", _vocab())  # type: ignore[arg-type]
    assert thinking_support(None, _vocab("<think>"))  # type: ignore[arg-type]
    assert not thinking_support("{{ messages }}", _vocab())  # type: ignore[arg-type]


# -- the CLI --------------------------------------------------------------------------------


def test_config_chat_templates_by_file_name(llm: Runner, bundled_model: Path) -> None:
    config = llm.tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text(f'[chat_templates]\n"{bundled_model.name}" = "chatml"\n')
    assert llm("run", "hi", "--model", str(bundled_model)).exit_code == 0
    assert llm.params[-1].chat_template == "chatml"
    assert (
        llm("run", "hi", "--model", str(bundled_model), "--chat-template", "gemma").exit_code == 0
    )
    assert llm.params[-1].chat_template == "gemma"  # the flag wins


def test_config_chat_templates_must_be_strings(llm: Runner) -> None:
    config = llm.tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text("[chat_templates]\nx = 1\n")
    result = llm("run", "hi")
    assert result.exit_code == 2
    assert "[chat_templates]" in result.stderr


def test_chat_refuses_a_base_model(llm: Runner, engine: FakeEngine, bundled_model: Path) -> None:
    engine.base_model = True
    result = llm("chat", "--model", str(bundled_model), stdin="hello\n")
    assert result.exit_code == 3
    assert "base model" in result.stderr and "llm run" in result.stderr
    assert engine.closed and not engine.calls


def test_models_show_says_what_the_model_can_do(llm: Runner, bundled_model: Path) -> None:
    import json

    result = llm("models", "show", str(bundled_model), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["template"] == {"kind": "own", "name": "tokenizer.chat_template"}
    assert data["thinking"] is False
    assert data["architecture"] == "llama" and data["quant"] == "Q4_1"
    assert data["context_length"] == 8192 and data["parameters"] > 100_000_000
    plain = llm("models", "show", str(bundled_model)).stdout
    assert "template        own (tokenizer.chat_template)" in plain
    assert "thinking        no" in plain


def test_models_show_uses_the_configured_override(llm: Runner, bundled_model: Path) -> None:
    import json

    config = llm.tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text(f'[chat_templates]\n"{bundled_model.name}" = "gemma"\n')
    data = json.loads(llm("models", "show", str(bundled_model), "--json").stdout)
    assert data["template"] == {"kind": "builtin", "name": "gemma"}


def test_model_switch_to_a_broken_template_or_base_model_keeps_the_model(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    from llmcli.engine import EngineParams
    from tests.test_chat_repl import ENTER, type_keys, users

    broken, base = tmp_path / "broken.gguf", tmp_path / "base.gguf"
    for path in (broken, base):
        path.write_bytes(b"GGUF")  # the fake factory never reads it
    real = llm.factory

    def factory(params: EngineParams) -> FakeEngine:
        if params.model_path == broken:
            raise ChatTemplateError("broken.gguf's chat template does not compile: x (line 1)")
        if params.model_path == base:
            return FakeEngine(base_model=True, model_path=base)
        return real(params)

    llm.factory = factory  # type: ignore[method-assign]
    keys = f"/model {broken}" + ENTER + "hi" + ENTER + f"/model {base}" + ENTER + "again" + ENTER
    result = type_keys(llm, keys + "/model" + ENTER)
    assert "broken.gguf's chat template does not compile" in result.stderr
    assert "base.gguf is a base model" in result.stderr
    assert users(engine) == ["hi", "again"]
    assert "model smollm2" in result.stdout
