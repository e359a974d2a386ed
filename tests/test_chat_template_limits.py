"""Chat templates are code from model files: failures are one ChatTemplateError (exit 3), and
a render is bounded in time and size (issue 15 items 4 and 5)."""

from __future__ import annotations

import sys
import time

import pytest

from llmcli.engine import Message
from llmcli.engine.chatformat import compile_template, render_chat, render_messages
from llmcli.engine.sandbox import RenderLimit
from llmcli.errors import ChatTemplateError, ExitCode

HELLO = [Message("user", "hello")]
LOOP = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"


def _render(template: str, messages: list[Message] = HELLO, time_s: float = 0.5) -> str:
    return render_chat(messages, template, time_s=time_s)


def test_error_class_is_exit_3() -> None:
    assert ChatTemplateError("x").exit_code == ExitCode.MODEL_NOT_FOUND
    assert int(ExitCode.MODEL_NOT_FOUND) == 3


def test_syntax_error_is_one_line_naming_the_template() -> None:
    with pytest.raises(ChatTemplateError) as err:
        compile_template("{% for x in %}", "model.gguf's chat template")
    assert err.value.message.startswith("model.gguf's chat template does not compile")
    assert "\n" not in err.value.message
    assert err.value.hint and "--chat-template" in err.value.hint


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ 1/0 }}", "ZeroDivisionError"),
        ("{{ raise_exception('no system role') }}", "no system role"),
        ("{% for x in range(10**7) %}{% endfor %}", "OverflowError"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recurses"),
        ("{% set ns = namespace(__class__=1) %}", "not allowed"),
    ],
)
def test_render_errors_become_chat_template_errors(template: str, says: str) -> None:
    with pytest.raises(ChatTemplateError) as err:
        _render(template)
    assert says in err.value.message
    assert "\n" not in err.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}",
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    ],
)
def test_nested_loops_stop_at_the_time_limit(template: str) -> None:
    start = time.monotonic()
    with pytest.raises(RenderLimit, match="ran past"):
        _render(template, time_s=0.3)
    assert time.monotonic() - start < 10  # bounded, not a hang (generous: the CPU is shared)


@pytest.mark.parametrize(
    "template",
    [
        "{{ lipsum(n=10**6) }}",
        "{{ 'x' * 10**9 }}",
        "{{ ([1] * 10**9) | length }}",
        "{{ 10 ** 100000 }}",
        "{% set n = 2 ** 60000 %}{{ n * n }}",
        "{% set s = 'a' * 100000 %}{{ s | replace('a', s) }}",
        "{% set s = 'a' * 100000 %}{{ s.replace('a', s) }}",
        "{{ 'x' | center(10**9) }}",
        "{{ 'x'.rjust(10**9) }}",
        "{{ '%099999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{% set s = 'x' * 900000 %}{{ (s ~ '') + s }}",
        "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}",
        "{% set s = 'x' * 500000 %}{{ [s, s, s] | join }}",
    ],
)
def test_huge_values_are_refused_before_they_are_built(template: str) -> None:
    with pytest.raises(RenderLimit):
        _render(template, time_s=5)


def test_large_inputs_still_render() -> None:
    """The size limit grows with the input: a long document is no template abuse."""
    big = "word " * 400_000  # 2 MB
    text = _render(LOOP, [Message("user", big)])
    assert text == f"user: {big}\n"


def test_the_tracer_is_restored() -> None:
    before = sys.gettrace()
    _render(LOOP)
    with pytest.raises(ChatTemplateError):
        _render("{{ 1/0 }}")
    assert sys.gettrace() is before


def test_render_limit_is_not_retried_without_the_system_prompt() -> None:
    slow = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    messages = [Message("system", "s"), Message("user", "u")]
    start = time.monotonic()
    with pytest.raises(RenderLimit):
        render_messages(messages, slow, "", "")
    assert time.monotonic() - start < 10


def test_system_role_refusal_folds_into_the_user_turn() -> None:
    refuses = (
        "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}" + LOOP
    )
    messages = [Message("system", "Be brief."), Message("user", "Hi")]
    assert render_messages(messages, refuses, "", "") == "user: Be brief.\n\nHi\n"


def test_transformers_extensions_render() -> None:
    template = (
        "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}"
        "{% generation %}{{ m.content | tojson }}{% endgeneration %}{% endfor %}"
        "{{ strftime_now('%Y') | length }}"
    )
    messages = [Message("system", "skip"), Message("user", "<é>")]
    assert _render(template, messages) == '"<é>"4'


def test_enable_thinking_only_when_set() -> None:
    template = "{{ enable_thinking is defined }}/{{ enable_thinking | default('-') }}"
    assert render_chat(HELLO, template) == "False/-"
    assert render_chat(HELLO, template, think=False) == "True/False"
    assert render_chat(HELLO, template, think=True) == "True/True"


def test_outside_a_bounded_render_the_checks_do_not_expire() -> None:
    compiled = compile_template("{{ 'x' | center(5) }}{{ 'ab'.replace('a', 'c') }}")
    assert compiled.render() == "  x  cb"
