"""The 70 real chat templates of the llama-cpp-python sdist, rendered by us and by transformers.

For every template and conversation our prompt must equal transformers'
`render_jinja_template` (the test-only reference), or both must fail and the reason be
recorded in REFUSED. `make test` unpacks the sdist (target llama-src) and exports
LLMCLI_TEMPLATES_DIR; without it the test looks in the default build cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from llmcli.engine import Message
from llmcli.engine.chatformat import render_chat
from llmcli.errors import ChatTemplateError

_DEFAULT = "~/.cache/llmcli-build/llama-cpp-python-0.3.36/vendor/llama.cpp/models/templates"
TEMPLATES = Path(os.environ.get("LLMCLI_TEMPLATES_DIR", _DEFAULT)).expanduser()
FILES = sorted(TEMPLATES.glob("*.jinja")) if TEMPLATES.is_dir() else []

CONVERSATIONS = {
    "system_user": [Message("system", "You are terse."), Message("user", "Hello there")],
    "multi_turn": [
        Message("user", "Hi"),
        Message("assistant", "Hello! How can I help?"),
        Message("user", "Name a fruit."),
    ],
    "user_only": [Message("user", "What is 2+2?")],
}

# template -> why it renders for neither renderer (both must fail, with the same message)
_TOOLS = "a tool-use template: iterates `tools`, which is None without tools"
REFUSED = {
    "CohereForAI-c4ai-command-r-plus-tool_use": _TOOLS,
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": _TOOLS,
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": _TOOLS,
    "fireworks-ai-llama-3-firefunction-v2": "needs a `functions` variable (tool definitions)",
}
# (template, conversation) -> why: refusals that only some conversations meet
REFUSED_CONVERSATION = {
    ("google-gemma-2-2b-it", "system_user"): "raises 'System role not supported'; "
    "render_messages folds the system prompt into the first user turn",
}

needs_templates = pytest.mark.skipif(not FILES, reason=f"no templates in {TEMPLATES}")


def _reference(template: str, messages: list[Message], think: bool | None) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    extra: dict[str, Any] = {} if think is None else {"enable_thinking": think}
    result: Any = render_jinja_template(  # annotated `-> str`, returns (prompts, indices)
        [[m.as_dict() for m in messages]],
        chat_template=template,
        add_generation_prompt=True,
        bos_token="<BOS>",
        eos_token="<EOS>",
        **extra,
    )
    return str(result[0][0])


def _cases() -> list[tuple[str, str, bool | None]]:
    cases: list[tuple[str, str, bool | None]] = []
    for path in FILES:
        thinks: list[bool | None] = [None]
        if "enable_thinking" in path.read_text(encoding="utf-8"):
            thinks += [True, False]
        cases += [(path.stem, c, t) for c in CONVERSATIONS for t in thinks]
    return cases


@needs_templates
def test_all_seventy_templates_are_covered() -> None:
    assert len(FILES) == 70
    assert set(REFUSED) | {t for t, _ in REFUSED_CONVERSATION} <= {p.stem for p in FILES}


@needs_templates
@pytest.mark.parametrize(("name", "conversation", "think"), _cases())
def test_template_matches_transformers(name: str, conversation: str, think: bool | None) -> None:
    source = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    messages = CONVERSATIONS[conversation]
    reason = REFUSED.get(name) or REFUSED_CONVERSATION.get((name, conversation))
    try:
        expected = _reference(source, messages, think)
    except Exception as exc:
        assert reason, f"transformers refuses {name}/{conversation}: {exc}; record why"
        with pytest.raises(ChatTemplateError) as ours:
            render_chat(messages, source, bos_token="<BOS>", eos_token="<EOS>", think=think)
        assert str(exc).splitlines()[0] in ours.value.message
        return
    assert reason is None, f"{name}/{conversation} renders now: drop it from the refusals"
    ours_text = render_chat(messages, source, bos_token="<BOS>", eos_token="<EOS>", think=think)
    assert ours_text == expected
