"""Fuzzing what llm reads from outside: every input either works or fails as an LlmError
(one line, its exit code), never as another exception.

A bounded run is part of every test run; `make fuzz` runs the same properties with the
`fuzz` profile (thousands of cases each) and prints hypothesis' counts per property. Inputs
come both from raw bytes and text, and from structures near the valid ones (a valid file with
fields of the wrong type, a valid header with a byte changed), where the bugs were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import string
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from llmcli.chat.commands import COMMANDS, CONTINUE, Action, run_command
from llmcli.chat.session import FORMAT, Session
from llmcli.chat.store import SessionStore
from llmcli.chat.turn import Chat
from llmcli.config import load_settings
from llmcli.engine import GenerationOptions
from llmcli.engine.gguf import read_gguf
from llmcli.engine.kvcache import settings_from_env
from llmcli.env import Environment
from llmcli.errors import LlmError
from llmcli.inputs import decode_input, parse_json_line, stdin_lines
from llmcli.models import ModelStore
from llmcli.models.cache import HFCache
from llmcli.models.hub import NullProgress
from llmcli.models.specs import looks_like_hub_spec, parse_hub_spec
from llmcli.prompts import parse_params, parse_template
from llmcli.runtime import ModelLoader, generation_options
from llmcli.tasks.sentiment import jsonl_texts, parse_eval
from tests.conftest import Runner
from tests.fake_engine import FakeEngine
from tests.hub_server import gguf_bytes

# -- value strategies -------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
TOML_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.datetimes()
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
SETTING_KEYS = st.sampled_from(
    [
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "repeat_penalty",
        "max_tokens",
        "seed",
        "stop",
        "think",
    ]
)


def toml_text(data: dict[str, Any]) -> str:
    return tomli_w.dumps(data)


# -- input decoding ----------------------------------------------------------------------------


@given(st.binary(max_size=2000))
def test_decode_input_gives_text_or_an_input_error(data: bytes) -> None:
    try:
        text = decode_input(data, "stdin")
    except LlmError:
        return
    assert isinstance(text, str) and "\x00" not in text[:65536]


@given(st.lists(st.binary(max_size=60), max_size=8))
def test_stdin_lines_yield_lines_or_their_errors(chunks: list[bytes]) -> None:
    raw = io.TextIOWrapper(io.BytesIO(b"\n".join(chunks)), encoding="utf-8")
    env = Environment(stdin=raw, environ={}, config_dir=Path("/nonexistent"))
    for line in stdin_lines(env):
        assert isinstance(line, str | LlmError)


# -- GGUF headers ------------------------------------------------------------------------------

VALID_GGUF = gguf_bytes("Q4_K_M", size=600, name="fuzz", **{"tokenizer.chat_template": "{{x}}"})


@given(st.binary(max_size=600))
def test_gguf_reader_on_random_bytes(tmp_path: Path, data: bytes) -> None:
    _read(tmp_path, b"GGUF" + data)


@given(
    st.lists(st.tuples(st.integers(0, len(VALID_GGUF) - 1), st.integers(0, 255)), max_size=6),
    st.integers(0, len(VALID_GGUF)),
)
def test_gguf_reader_on_a_valid_header_with_bytes_changed(
    tmp_path: Path, changes: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(VALID_GGUF)
    for offset, value in changes:
        data[offset] = value
    _read(tmp_path, bytes(data[:cut] if cut else data))


def _read(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.gguf"
    path.write_bytes(data)
    try:
        info = read_gguf(path)
    except LlmError:
        return
    # what callers read from a parsed header must not raise either
    assert info.architecture is not None
    _ = (info.context_length, info.chat_template, info.quant, info.split_count, info.name)


# -- template TOML -----------------------------------------------------------------------------

TEMPLATE_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "name": TOML_VALUES,
        "description": TOML_VALUES,
        "system": st.text(alphabet="ab{}%# \n", max_size=20) | TOML_VALUES,
        "user": st.sampled_from(["{{ text }}", "{{ x }}", "{% if %}", "hi"]) | TOML_VALUES,
        "variables": st.dictionaries(st.sampled_from(["text", "x", "n"]), TOML_VALUES)
        | TOML_VALUES,
        "settings": st.dictionaries(SETTING_KEYS | st.text(max_size=6), TOML_VALUES) | TOML_VALUES,
        "examples": st.lists(st.dictionaries(st.sampled_from(["user", "assistant"]), TOML_VALUES))
        | TOML_VALUES,
    },
)


@given(TEMPLATE_FIELDS, st.lists(st.text(max_size=12), max_size=3))
def test_template_files_parse_and_render_or_fail_as_template_errors(
    tmp_path: Path, data: dict[str, Any], params: list[str]
) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    try:
        tmpl = parse_template(path, "file")
        messages = tmpl.render(parse_params(params))
        options = generation_options(tmpl.settings, load_settings(_env(tmp_path)))
    except LlmError:
        return
    assert messages[-1].role == "user"
    assert isinstance(options, GenerationOptions)


@given(st.text(max_size=200))
def test_template_files_of_any_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(LlmError):
        parse_template(path, "file")


# -- config.toml and LLM_* variables -----------------------------------------------------------

CONFIG = st.dictionaries(
    st.sampled_from(["model", "ctx", "threads", "temperature", "top_p", "seed", "max_tokens"])
    | st.sampled_from(["gpu_layers", "aliases", "endpoints"])
    | st.text(max_size=6),
    TOML_VALUES,
    max_size=5,
)
ENV_VALUES = st.dictionaries(
    st.sampled_from(["LLM_CTX", "LLM_THREADS", "LLM_TEMPERATURE", "LLM_SEED", "LLM_TOP_P"])
    | st.sampled_from(["LLM_MAX_TOKENS", "LLM_GPU_LAYERS", "LLM_KV_CACHE_MB", "LLM_KV_CACHE"]),
    st.text(alphabet=string.printable, max_size=12)
    | st.sampled_from(["nan", "inf", "1e999", "²", "١٢", "9" * 30, "-1", " 7 "]),
    max_size=3,
)


def _env(tmp_path: Path, environ: dict[str, str] | None = None) -> Environment:
    return Environment(
        environ=environ or {}, config_dir=tmp_path, data_dir=tmp_path, cache_dir=tmp_path
    )


@given(CONFIG, ENV_VALUES)
def test_config_and_environment_give_settings_or_one_error(
    tmp_path: Path, data: dict[str, Any], environ: dict[str, str]
) -> None:
    (tmp_path / "config.toml").write_text(toml_text(data), encoding="utf-8")
    env = _env(tmp_path, environ)
    warnings: list[str] = []
    try:
        settings = load_settings(env, warnings.append)
        settings_from_env(env.environ, env.cache_dir)
    except LlmError:
        return
    assert all(isinstance(v, str) for v in settings.aliases.values())
    # what the engine does with them next must work: llama.cpp takes an int32 layer count
    gpu = settings.gpu_layers.strip().lower()
    assert gpu in ("auto", "all") or -1 <= int(gpu) < 2**31
    assert all(str(env.config_path) in line for line in warnings)


@given(st.binary(max_size=200))
def test_config_of_any_bytes(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "config.toml").write_bytes(data)
    with contextlib.suppress(LlmError):
        load_settings(_env(tmp_path))


# -- session files -----------------------------------------------------------------------------

SESSION = st.fixed_dictionaries(
    {"format": st.just(FORMAT) | JSON},
    optional={
        "name": JSON,
        "model": JSON,
        "system": JSON,
        "settings": st.dictionaries(SETTING_KEYS | st.text(max_size=6), JSON) | JSON,
        "created": JSON,
        "context_start": st.integers(-2, 5) | JSON,
        "messages": st.lists(
            st.fixed_dictionaries(
                {}, optional={"role": st.sampled_from(["user", "assistant", "system"]) | JSON}
            ).map(lambda m: m | {"content": "x"})
            | JSON,
            max_size=4,
        )
        | JSON,
    },
)


@given(SESSION | JSON)
def test_session_files_load_and_give_options_or_a_session_error(tmp_path: Path, data: Any) -> None:
    store = SessionStore(tmp_path)
    (tmp_path / "fuzz.json").write_text(json.dumps(data), encoding="utf-8")
    try:
        session = store.load("fuzz")
    except LlmError:
        return
    assert isinstance(session, Session)
    dataclasses.replace(GenerationOptions(), **session.settings)  # what Chat.options() does
    assert json.loads(json.dumps(session.to_dict()))["format"] == FORMAT


# -- JSONL and TSV batch rows ------------------------------------------------------------------


@given(st.lists(st.text(max_size=40) | JSON.map(json.dumps), max_size=6), st.text(max_size=5))
def test_jsonl_rows_give_texts_or_per_line_errors(lines: list[str], field: str) -> None:
    for item in jsonl_texts(lines, field or "text"):
        assert isinstance(item, str | LlmError)


@given(st.text(alphabet="ab\t\n\r \u2028x", max_size=80))
def test_tsv_eval_rows_or_one_input_error(text: str) -> None:
    try:
        rows = parse_eval(text, "eval.tsv")
    except LlmError:
        return
    assert all(label and "\t" not in label for _, label in rows)


@given(st.text(max_size=60) | st.just("[" * 5000) | st.just("9" * 5000))
def test_json_lines_fail_as_value_errors(line: str) -> None:
    with contextlib.suppress(ValueError):
        parse_json_line(line)


# -- model specs -------------------------------------------------------------------------------

SPEC_TEXT = st.text(alphabet="abAB09/:._-~\\ hf.co", max_size=30) | st.text(max_size=20)


@given(SPEC_TEXT)
def test_model_specs_resolve_or_fail_as_model_errors(tmp_path: Path, spec: str) -> None:
    if looks_like_hub_spec(spec):
        with contextlib.suppress(LlmError):
            parse_hub_spec(spec)
    store = ModelStore(HFCache(tmp_path / "hub", offline=True), aliases={"a": "b", "b": "a"})
    with contextlib.suppress(LlmError):
        store.resolve(spec or None)


# -- /commands in the chat ---------------------------------------------------------------------


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    def error(self, text: str) -> None:
        self.lines.append(text)


def _chat(llm: Runner) -> Chat:
    env = llm.make_env()
    settings = load_settings(env)
    store = ModelStore(HFCache(llm.tmp_path / "hub", offline=True))
    loader = ModelLoader(env, settings, store, NullProgress())
    assert env.data_dir is not None
    chat = Chat(
        env, loader, Session(name="fuzz"), SessionStore(env.sessions_dir), GenerationOptions()
    )
    chat.open(None)
    return chat


ARGS = st.text(alphabet="ab 0.5-\"'\\nonefuzz/", max_size=16) | st.text(max_size=12)


@given(st.sampled_from([*COMMANDS, "q", "?", "nope"]), ARGS)
def test_slash_commands_never_raise(llm: Runner, engine: FakeEngine, name: str, arg: str) -> None:
    chat = _chat(llm)
    chat.session.add_exchange("hi", "hello")
    try:
        action = run_command(f"/{name} {arg}", chat, Lines())
        assert isinstance(action, Action)
        chat.options()  # whatever /set accepted must build GenerationOptions
        if action is not CONTINUE and action.ask is not None:
            assert action.ask == "hi"
    finally:
        chat.store.release()
        chat.close()


# -- whole command lines -----------------------------------------------------------------------

COMMAND_WORDS = st.sampled_from(
    [
        ["run"], ["chat"], ["summarize"], ["translate", "--to", "pt"], ["sentiment"],
        ["sentiment", "--batch"], ["templates", "list"], ["templates", "show"],
        ["models", "list"], ["models", "show"], ["models", "quants"], ["models", "verify"],
        ["models", "alias"], ["models", "default"], ["models", "rm"], ["info"],
        ["completion", "bash"], ["run", "-t", "summarize"], ["translate", "--lines", "--to"],
    ]
)  # fmt: skip
NASTY = st.sampled_from(
    ["", "-1", "0", "nan", "1e999", "²", "~nosuchuser/x", "/dev/null", "a" * 300, "x=y",
     "auto", "olá\u2028mundo", "owner/repo:Q9", "hf.co/a/b/c.gguf", "--", "-", "{{ x }}"]
)  # fmt: skip
OPTIONS = st.sampled_from(
    ["-m", "--ctx", "--threads", "--gpu-layers", "--temperature", "--top-p", "--seed",
     "--max-tokens", "-s", "-p", "-t", "-f", "--field", "--labels", "--length", "--session",
     "--json", "--stats", "--lines", "--batch", "--continue"]
)  # fmt: skip


@given(
    COMMAND_WORDS,
    st.lists(st.tuples(OPTIONS, NASTY | st.text(max_size=8)), max_size=3),
    st.lists(NASTY, max_size=2),
    st.binary(max_size=40) | NASTY.map(str.encode),
)
def test_command_lines_end_in_a_documented_exit_code(
    llm: Runner, words: list[str], options: list[tuple[str, str]], args: list[str], stdin: bytes
) -> None:
    """Any command line: an exit code from the README's table and no 'unexpected' error."""
    argv = [*words, *(part for pair in options for part in pair), *args]
    result = llm(*argv, stdin=stdin)
    assert result.exit_code in (0, 1, 2, 3, 4), (argv, result.stderr)
    assert "error: unexpected" not in result.stderr, (argv, result.stderr)  # the funnel
    assert "--debug" in argv or "Traceback" not in result.stderr, (argv, result.stderr)
