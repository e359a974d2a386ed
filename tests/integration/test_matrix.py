"""A few cells of the compatibility matrix (docs/models.md, `make models-doc`) through the
same code: re-labelled copies served by the local Hub, pulled, run with the real CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import matrix
from tests.hub_server import HubServer

FAMILIES = {
    "Llama 3.2": "meta-llama-Llama-3.2-3B-Instruct",
    "Mistral Small 3.2": "Mistral-Small-3.2-24B-Instruct-2506",
}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], list[matrix.Model]]]:
    work = tmp_path_factory.mktemp("matrix")
    found = [m for m in matrix.models(work, FAMILIES) if m.spec.startswith("matrix/")]
    with HubServer(work / "hub") as hub:
        env = matrix.matrix_env(work, hub.url)
        env["LLM_THREADS"] = os.environ.get("LLMCLI_TEST_THREADS", "2")
        matrix.pull_all(env, found)
        yield env, found


@pytest.mark.parametrize("command", ["run", "chat", "translate"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cell(served: tuple[dict[str, str], list[matrix.Model]], family: str, command: str) -> None:
    env, found = served
    model = next(m for m in found if m.family == family)
    assert matrix.cell(env, model.spec, command) == "✓"


def test_every_family_template_is_in_the_sdist() -> None:
    for name in matrix.FAMILIES.values():
        assert Path(matrix.TEMPLATES / f"{name}.jinja").is_file() or not matrix.TEMPLATES.is_dir()
