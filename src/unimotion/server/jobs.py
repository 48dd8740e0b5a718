"""A bounded job queue: one worker thread runs the model calls, a fixed number may wait, the rest are "busy".

The models are not thread-safe and a CPU gains nothing from running two at once, so every model call goes
through one worker thread. ``max_pending`` counts the running job and the waiting ones; a request beyond it
gets :class:`Busy` at once (the API answers 503 with ``Retry-After``), so a burst can never pile up an
unbounded backlog. Every job has a time limit: a request that has not got its answer by then gets
:class:`JobTimeout` (504). A job that is still waiting at its deadline is dropped before it starts; a job
already running cannot be interrupted inside a forward pass, so it finishes in the background and keeps its
slot until then (the bound on pending work holds).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """The queue is full; ``retry_after`` is a guess in seconds."""

    def __init__(self, pending: int, retry_after: int):
        self.pending = pending
        self.retry_after = retry_after
        super().__init__(f"the server is busy ({pending} jobs running or waiting); try again in about "
                         f"{retry_after} s")


class JobTimeout(Exception):
    """The job did not finish within its time limit."""


class _Expired(Exception):
    """A job reached the worker after its deadline (not run)."""


class JobQueue:
    """One worker thread; at most ``max_pending`` jobs running or waiting (module docstring)."""

    def __init__(self, max_pending: int = 4, timeout_s: float = 60.0, initializer: Callable[[], None] | None = None):
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.max_pending = int(max_pending)
        self.timeout_s = float(timeout_s)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="unimotion-job",
                                                               initializer=initializer)
        self._lock = threading.Lock()
        self._pending = 0
        self._avg_s = 1.0  # running mean of job durations, for Retry-After
        self.stats = {"completed": 0, "failed": 0, "busy": 0, "timeouts": 0, "expired": 0}

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def _release(self, _future: concurrent.futures.Future) -> None:
        with self._lock:
            self._pending -= 1

    def _reserve(self) -> None:
        with self._lock:
            if self._pending >= self.max_pending:
                self.stats["busy"] += 1
                raise Busy(self._pending, max(1, int(round(self._avg_s * self._pending))))
            self._pending += 1

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the worker; raises :class:`Busy` or :class:`JobTimeout`."""
        self._reserve()
        limit = self.timeout_s if timeout_s is None else float(timeout_s)
        deadline = time.monotonic() + limit

        def job() -> T:
            if time.monotonic() > deadline:
                raise _Expired()
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                with self._lock:
                    self._avg_s = 0.8 * self._avg_s + 0.2 * took

        try:
            future = self._executor.submit(job)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        future.add_done_callback(self._release)
        waiter = asyncio.wrap_future(future)
        waiter.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "exception not retrieved"
        try:
            result = await asyncio.wait_for(asyncio.shield(waiter), limit)
        except TimeoutError:
            future.cancel()  # drops the job if it has not started; a running one finishes, holding its slot
            self.stats["timeouts"] += 1
            raise JobTimeout(f"the job did not finish within the time limit of {limit:g} s") from None
        except _Expired:
            self.stats["expired"] += 1
            raise JobTimeout(f"the job waited longer than the time limit of {limit:g} s") from None
        except Exception:
            self.stats["failed"] += 1
            raise
        self.stats["completed"] += 1
        return result

    def call_soon(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Run ``fn`` on the worker outside the bound (start-up work such as preloading a model)."""
        return self._executor.submit(fn)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
