"""`llm chat` end to end on the bundled SmolLM2: scripted chats, the context limit, Ctrl-C,
and one session in a real terminal under tmux."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import LLM, RunLlm

STATS = re.compile(r"^llm: (\d+) prompt \+ (\d+) generated tokens", re.MULTILINE)


def saved(cli_env: dict[str, str], name: str) -> dict[str, object]:
    path = Path(cli_env["LLM_DATA_DIR"]) / "sessions" / f"{name}.json"
    data: dict[str, object] = json.loads(path.read_text("utf-8"))
    return data


def replies(data: dict[str, object]) -> list[str]:
    messages = data["messages"]
    assert isinstance(messages, list)
    return [m["content"] for m in messages if m["role"] == "assistant"]


def test_scripted_chat_answers_each_line_a_blank_line_apart(
    run_llm: RunLlm, cli_env: dict[str, str]
) -> None:
    proc = run_llm(
        "chat", "--session", "s", "--seed", "1", "--max-tokens", "24", stdin="hi\nand then?\n"
    )
    assert proc.returncode == 0, proc.stderr
    first, second = replies(saved(cli_env, "s"))
    assert first.strip() and second.strip()
    end = "" if first.endswith("\n") else "\n"
    assert proc.stdout.startswith(first + end + "\n" + second)
    assert "\x1b" not in proc.stdout


def test_second_turn_sees_the_first(run_llm: RunLlm, cli_env: dict[str, str]) -> None:
    """The structure only; whether the reply names Ana is bench/checks.py's chat_recalls_name."""
    questions = ["My name is Ana.", "What is my name? Answer with the name only."]
    proc = run_llm(
        "chat",
        "--session",
        "name",
        "--temperature",
        "0",
        "--max-tokens",
        "40",
        "--stats",
        stdin="\n".join(questions) + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    messages = saved(cli_env, "name")["messages"]
    assert isinstance(messages, list)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in messages[::2]] == questions
    assert all(m["content"].strip() for m in messages[1::2])
    (prompt_1, generated_1), (prompt_2, _) = [
        (int(m[1]), int(m[2])) for m in STATS.finditer(proc.stderr)
    ]
    assert prompt_2 > prompt_1 + generated_1  # the second prompt carries the first exchange


@pytest.mark.slow
def test_long_chat_past_the_context_keeps_going(run_llm: RunLlm, cli_env: dict[str, str]) -> None:
    questions = [f"Tell me one fact about the number {n}." for n in range(10)]
    proc = run_llm(
        "chat",
        "--session",
        "long",
        "--ctx",
        "256",
        "--max-tokens",
        "48",
        "--seed",
        "3",
        stdin="\n".join(questions) + "\n",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "context full: the oldest" in proc.stderr
    data = saved(cli_env, "long")
    assert len(replies(data)) == 10  # every exchange is kept in the session file
    assert isinstance(data["context_start"], int) and data["context_start"] > 0


def test_message_longer_than_the_context_exits_4(run_llm: RunLlm) -> None:
    proc = run_llm("chat", "--ctx", "256", stdin="word " * 400 + "\n")
    assert proc.returncode == 4
    assert "this message is" in proc.stderr and "tokens" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ctrl_c_keeps_the_partial_answer_and_continue_goes_on(
    run_llm: RunLlm, cli_env: dict[str, str]
) -> None:
    proc = subprocess.Popen(
        [*LLM, "chat", "--session", "cut", "--temperature", "1", "--max-tokens", "2000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"Write a very long story about a lighthouse keeper.\n")
    proc.stdin.flush()
    first = os.read(proc.stdout.fileno(), 40)  # streaming; unbuffered, as communicate reads
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    partial = replies(saved(cli_env, "cut"))[0]
    assert partial.startswith((first + out).decode("utf-8", errors="replace").strip()[:30])
    later = run_llm("chat", "--continue", "--max-tokens", "16", stdin="Go on.\n")
    assert later.returncode == 0, later.stderr
    assert len(replies(saved(cli_env, "cut"))) == 2


# -- a real terminal -----------------------------------------------------------------------


class Tmux:
    """One tmux server of our own (its own socket), one window running a command."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.socket = f"llmtest-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.socket]
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-x", "100", "-y", "40", "-c", str(cwd), command],
            check=True,
        )

    def keys(self, text: str, enter: bool = True) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "0", "-l", text], check=True)
        if enter:
            subprocess.run([*self.tmux, "send-keys", "-t", "0", "Enter"], check=True)

    def screen(self) -> str:
        done = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", "0", "-S", "-200"],
            capture_output=True,
            text=True,
        )
        return done.stdout

    def wait(self, ready: Callable[[str], bool], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if ready(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out; the screen was:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], Tmux]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (make tools installs it)")
    started: list[Tmux] = []

    def start(args: str) -> Tmux:
        script = tmp_path / "run.sh"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in cli_env.items())
        llm = " ".join(shlex.quote(part) for part in LLM)
        script.write_text(
            f"{exports}export TERM=xterm-256color\n{llm} {args}\necho $? > {tmp_path}/rc\n"
            "sleep 30\n",
            "utf-8",
        )
        started.append(Tmux(f"sh {shlex.quote(str(script))}", Path.cwd()))
        return started[-1]

    yield start
    for t in started:
        t.kill()


def prompts(screen: str) -> int:
    return sum(1 for line in screen.splitlines() if line.startswith(">>>"))


def answer_on(screen: str, question: str) -> str:
    """What the screen shows below the question, up to the stats line or the next prompt."""
    below = screen.split(question, 1)[1] if question in screen else ""
    shown = []
    for line in below.splitlines():
        if line.startswith(">>>") or "generated tokens" in line:
            break
        shown.append(line)
    return "\n".join(shown).strip()


@pytest.mark.slow
def test_chat_in_a_real_terminal(
    terminal: Callable[[str], Tmux], cli_env: dict[str, str], tmp_path: Path
) -> None:
    tmux = terminal("chat --temperature 0 --max-tokens 150 --stats")
    tmux.wait(lambda s: "llm chat · smollm2" in s and prompts(s) == 1, timeout=60)
    question = "Write a long story about a cat who sails around the world."
    tmux.keys(question)
    # While the reply streams, its text is on screen before the next prompt is.
    streaming = tmux.wait(lambda s: bool(answer_on(s, question)) or prompts(s) == 2)
    assert prompts(streaming) == 1, "the answer only appeared at the end"
    done = tmux.wait(lambda s: prompts(s) == 2 and "tok/s" in s)
    assert "generated tokens" in done.split(question, 1)[1]
    shown = answer_on(done, question)
    assert len(shown) > len(answer_on(streaming, question))
    tmux.keys("/save e2e")
    tmux.wait(lambda s: "saved to" in s)
    tmux.keys("/exit")
    tmux.wait(lambda s: (tmp_path / "rc").exists(), timeout=30)
    assert (tmp_path / "rc").read_text().strip() == "0"
    data = saved(cli_env, "e2e")
    assert data["model"] == "smollm2"
    messages = data["messages"]
    assert isinstance(messages, list) and messages[0] == {"role": "user", "content": question}
    words = [w.strip("*#_`.,!?\"'") for w in messages[1]["content"].split()[:3]]
    assert all(w in shown for w in words if w), (words, shown)
