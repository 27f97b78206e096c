"""HTTP for connectors: bounded retries on 429 (after ``Retry-After``), 5xx and network errors; clear
errors for everything else. Headers (where credentials travel) never reach a message or a log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from matih.exceptions import SourceError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried."""

    max_attempts: int = 6
    """Attempts per request, the first included."""
    backoff_seconds: float = 1.0
    """Wait before the second attempt after a 5xx or a network error; doubles each time."""
    max_backoff_seconds: float = 30.0
    """Cap on one wait."""
    max_retry_after_seconds: float = 120.0
    """A server asking to wait longer than this fails the request instead."""


Explain = Callable[[int, str], str]
"""(status, body text) -> what to tell the user, for 401/403/404."""


class ApiClient:
    """One connection pool to one API, with the retry policy and error wording of a connector."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        source: str | None = None,
        explain: Explain | None = None,
        timeout: float = 60.0,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.source = source
        self.explain = explain
        self.on_retry = on_retry
        self._client = httpx.Client(
            base_url=base_url, headers=dict(headers or {}), timeout=timeout, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        stream: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; a 2xx response is returned, anything else raises :class:`SourceError`."""
        policy = self.policy
        backoff = policy.backoff_seconds
        last: str = ""
        started = time.monotonic()
        for attempt in range(1, policy.max_attempts + 1):
            try:
                response = self._client.request(method, url, params=params, json=json, headers=headers)
            except httpx.TransportError as err:
                # the base URL, never the query (it may carry parameters a user did not mean to show)
                last = f"cannot reach {self._client.base_url} ({type(err).__name__}: {err})"
                wait = min(backoff, policy.max_backoff_seconds)
                backoff *= 2
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status == 429:
                    wait = _retry_after(response, default=backoff)
                    if wait > policy.max_retry_after_seconds:
                        raise SourceError(
                            f"rate limited and asked to wait {wait:.0f} s (more than "
                            f"{policy.max_retry_after_seconds:.0f} s); try again later",
                            source=self.source,
                            stream=stream,
                            transient=True,
                        )
                    last = "HTTP 429 Too Many Requests"
                elif status >= 500:
                    last = f"HTTP {status} from the server"
                    wait = min(backoff, policy.max_backoff_seconds)
                    backoff *= 2
                else:
                    raise self._client_error(status, response, stream)
            if attempt == policy.max_attempts:
                break
            if self.on_retry:
                self.on_retry()
            # a warning, so a user watching a sync sees why it is waiting
            log.warning(
                "%s: %s; retry %d of %d in %.1f s", self.source, last, attempt, policy.max_attempts - 1, wait
            )
            time.sleep(wait)
        raise SourceError(
            f"{last}; gave up after {policy.max_attempts} attempts over {time.monotonic() - started:.0f} s; "
            "check that the server is up and that the source's address is right (sources.max_attempts "
            "and sources.backoff_seconds in matih.yaml set the patience)",
            source=self.source,
            stream=stream,
            transient=True,
        )

    def _client_error(self, status: int, response: httpx.Response, stream: str | None) -> SourceError:
        body = response.text[:500]
        if self.explain and status in (401, 403, 404):
            message = self.explain(status, body)
        else:
            message = f"HTTP {status}: {body}"
        return SourceError(message, source=self.source, stream=stream, transient=False)


def _retry_after(response: httpx.Response, *, default: float) -> float:
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return default


def prefetched(pages: Iterator[T], depth: int = 4) -> Iterator[T]:
    """``pages`` produced by a background thread, up to ``depth`` ahead of the consumer.

    The next request is then in flight (and the server building it) while the caller turns the current
    page into rows. Errors reach the consumer in order; closing the consumer stops the producer.
    """
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        box.put(("page", page), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("done", None))
        except BaseException as err:  # handed to the consumer, raised there
            box.put(("error", err))

    worker = threading.Thread(target=produce, name="matih-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "page":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join(timeout=5)
