"""The glue to huggingface_hub: its progress bars feed ours, its errors become one line."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import httpx2
import pytest
from huggingface_hub import errors as hf
from huggingface_hub.utils._xet_progress_reporting import XetDownloadProgressReporter

from llmcli.env import Environment
from llmcli.errors import DownloadError, ExitCode, LlmError, ModelNotFoundError
from llmcli.models.hub import HubClient, _bar_class, hub_errors


class Recorder:
    def __init__(self) -> None:
        self.advanced = 0

    def notice(self, message: str) -> None:
        pass

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        self.advanced += nbytes

    def stop(self) -> None:
        pass


def test_http_style_updates_and_restarts_are_counted() -> None:
    rec = Recorder()
    bar = _bar_class(rec)(desc="f", total=100, initial=0, unit="B", unit_scale=True)
    with bar:
        bar.update(60)
        bar.update_transfer(60)  # network bytes: not counted again
        bar.update(-60)  # the server ignored Range: the library starts over
        bar.update(100)
        bar.set_postfix_str("1 MB/s", refresh=False)
    assert rec.advanced == 100


def test_xet_downloads_count_file_bytes_once() -> None:
    """The library's own Xet reporter with our class: one bar, file bytes only."""
    rec = Recorder()
    reporter = XetDownloadProgressReporter(
        reconstruction_desc="f", total=1000, log_level=logging.INFO, tqdm_class=_bar_class(rec)
    )
    for done, transferred in ((400, 100), (1000, 300)):
        report = SimpleNamespace(
            total_bytes_completed=done,
            total_transfer_bytes_completed=transferred,
            total_bytes_completion_rate=1e6,
            total_transfer_bytes_completion_rate=1e5,
            total_bytes=1000,
        )
        reporter.update_progress(report)
    reporter.close()
    assert rec.advanced == 1000


def _http_error(cls: type[hf.HfHubHTTPError], status: int) -> hf.HfHubHTTPError:
    request = httpx2.Request("GET", "http://127.0.0.1/api/models/o/r")
    return cls("boom", response=httpx2.Response(status, request=request))


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (_http_error(hf.RepositoryNotFoundError, 404), 3, "model repo not found on the Hub: o/r"),
        (_http_error(hf.GatedRepoError, 403), 3, "o/r is gated"),
        (_http_error(hf.RevisionNotFoundError, 404), 3, "o/r has no revision 'v2'"),
        (_http_error(hf.HfHubHTTPError, 500), 1, "the Hub answered HTTP 500 for o/r"),
        (httpx2.ConnectError("refused"), 1, "cannot reach the Hub at http://mirror"),
        (httpx2.RemoteProtocolError("peer closed"), 1, "network error while talking to"),
        (OSError(28, "No space left on device"), 1, "No space left on device"),
    ],
)
def test_library_errors_become_one_line(exc: Exception, code: int, text: str) -> None:
    env = Environment(environ={"HF_ENDPOINT": "http://mirror/"})
    with pytest.raises(LlmError) as info, hub_errors(HubClient.from_env(env).endpoint, "o/r", "v2"):
        raise exc
    assert info.value.exit_code == code
    assert text in info.value.message and "\n" not in info.value.message


def test_interrupts_and_our_errors_pass_through() -> None:
    env = Environment(environ={})
    with (
        pytest.raises(KeyboardInterrupt),
        hub_errors(HubClient.from_env(env).endpoint, "o/r", "main"),
    ):
        raise KeyboardInterrupt
    with (
        pytest.raises(ModelNotFoundError),
        hub_errors(HubClient.from_env(env).endpoint, "o/r", "main"),
    ):
        raise ModelNotFoundError("x")
    assert DownloadError("x").exit_code == ExitCode.ERROR
