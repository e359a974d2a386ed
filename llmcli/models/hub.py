"""Talking to the Hub through huggingface_hub: list a repo's files, download a model.

Files go into the standard HF cache by `hf_hub_download` (temp file + atomic rename, a lock
per blob), so an interrupted or failed download leaves nothing half-written and two pulls of
the same model at once are safe. Every library error becomes one LlmError line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llmcli.env import Environment
from llmcli.errors import DownloadError, LlmError, ModelNotFoundError
from llmcli.models.specs import QuantGroup, RepoFile


class Progress(Protocol):
    """What the CLI gives the core to show downloads (the core never prints)."""

    def notice(self, message: str) -> None: ...
    def start(self, label: str, total: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    def notice(self, message: str) -> None:
        pass

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class HubClient:
    """The Hub as huggingface_hub reaches it: HF_ENDPOINT, HF_TOKEN (else its token file)."""

    endpoint: str | None = None
    token: str | None = None
    verbose: bool = False  # show the library's own log (retries)

    @classmethod
    def from_env(cls, env: Environment) -> HubClient:
        endpoint = env.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
        return cls(endpoint, env.environ.get("HF_TOKEN") or None, env.verbose)

    def _api(self) -> Any:
        import logging

        from huggingface_hub import HfApi

        # The library logs retries as multi-line warnings; our progress display says enough.
        if not self.verbose:
            logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
        return HfApi(endpoint=self.endpoint, token=self.token)

    def list_repo(self, repo: str, revision: str = "main") -> tuple[str, list[RepoFile]]:
        """The commit a revision points to, and every file in the repo at that commit."""
        api = self._api()
        with self.errors(repo, revision):
            info = api.model_info(repo, revision=revision)
            commit = str(info.sha)
            files = [
                RepoFile(entry.path, int(entry.size or 0))
                for entry in api.list_repo_tree(repo, revision=commit, recursive=True)
                if hasattr(entry, "size")  # folders have no size
            ]
        return commit, files

    def fetch(
        self, cache: Path, repo: str, commit: str, group: QuantGroup, progress: Progress
    ) -> list[Path]:
        """Download every part of a model into the cache, with one progress bar for them all."""
        from huggingface_hub import constants, hf_hub_download

        self._api()  # quiets the library's logger
        # The library reports progress once per read chunk (10 MiB): 1 MiB gives a smooth bar
        # and a prompt Ctrl-C. It reads this module constant at call time.
        constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, 1 << 20)
        bar = _bar_class(progress)
        paths: list[Path] = []
        progress.start(f"{repo}:{group.quant}", group.size)
        try:
            for part in group.files:
                with self.errors(repo, commit):
                    path = hf_hub_download(
                        repo,
                        part.path,
                        revision=commit,
                        cache_dir=cache,
                        endpoint=self.endpoint,
                        token=self.token,
                        tqdm_class=bar,
                    )
                paths.append(Path(str(path)))
        finally:
            progress.stop()
        return paths

    def errors(self, repo: str, revision: str) -> AbstractContextManager[None]:
        return hub_errors(self.endpoint, repo, revision)


def _bar_class(progress: Progress) -> Any:
    """A tqdm look-alike class that forwards byte counts to our Progress.

    huggingface_hub instantiates `tqdm_class(total=..., initial=..., desc=...)` per file and
    calls `update(n)` (negative when it restarts a download the server would not resume).
    Having `update_transfer` makes Xet downloads use one bar for the file's bytes, not a
    second one for network bytes (which would count twice); network bytes are ignored.
    """

    class _Bar:
        def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **kw: Any):
            self.total = total
            self.n = initial
            if initial:
                progress.advance(initial)

        def update(self, n: int | float | None = 1) -> None:
            step = int(n or 0)
            self.n += step
            progress.advance(step)

        def update_transfer(self, n: int | float | None = 1) -> None:
            pass

        def __getattr__(self, name: str) -> Any:
            # set_postfix_str, refresh, close...: display calls we have no use for
            return lambda *args, **kwargs: None

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    return _Bar


@contextmanager
def hub_errors(endpoint: str | None, repo: str, revision: str) -> Iterator[None]:
    """Library and network exceptions -> one clear LlmError (exit 3 or 1)."""
    import httpx2
    from huggingface_hub import errors as hf

    where = endpoint or "https://huggingface.co"
    try:
        yield
    except LlmError:
        raise
    except hf.GatedRepoError:
        raise ModelNotFoundError(
            f"{repo} is gated: accept its terms on the Hub first",
            hint="then set HF_TOKEN to a token of that account",
        ) from None
    except hf.RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"model repo not found on the Hub: {repo}",
            hint="check the name; for a private repo set HF_TOKEN",
        ) from None
    except hf.RevisionNotFoundError:
        raise ModelNotFoundError(f"{repo} has no revision {revision!r}") from None
    except hf.RemoteEntryNotFoundError as exc:
        raise ModelNotFoundError(f"file not found in {repo}: {_entry(exc)}") from None
    except hf.OfflineModeIsEnabled:
        raise ModelNotFoundError(
            f"{repo} is not downloaded and HF_HUB_OFFLINE is set",
            hint="unset HF_HUB_OFFLINE to download it",
        ) from None
    except hf.LocalEntryNotFoundError as exc:  # the HEAD request failed: no connection
        raise DownloadError(
            f"cannot reach the Hub at {where} to download {repo}: {_cause(exc)}"
        ) from None
    except hf.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise DownloadError(f"the Hub answered HTTP {status} for {repo}") from None
    except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
        raise DownloadError(
            f"cannot reach the Hub at {where}: {_cause(exc)}",
            hint="check the connection; HF_HUB_OFFLINE=1 uses cached models only",
        ) from None
    except httpx2.RequestError as exc:
        raise DownloadError(
            f"network error while talking to {where} about {repo}: {_cause(exc)}",
            hint="run `llm models pull` again: finished files are kept",
        ) from None
    except OSError as exc:
        raise DownloadError(f"download of {repo} failed: {_oneline(exc)}") from None


def _cause(exc: BaseException) -> str:
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    return _oneline(inner) or type(inner).__name__


def _oneline(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _entry(exc: BaseException) -> str:
    text = str(exc)
    marker = "/resolve/"
    if marker in text:
        return text.split(marker, 1)[1].split("/", 1)[-1].split()[0].rstrip(".")
    return _oneline(exc)
