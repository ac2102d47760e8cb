"""Group commit: many callers' writes, one transaction, one fsync.

A single writer thread owns the write connection (opened in autocommit mode: the writer
issues ``BEGIN``/``COMMIT`` itself). Callers hand it small operations
(``op(connection) -> result``) and get a future back; the thread drains whatever is queued,
runs each operation inside its own savepoint (one failing operation does not spoil the
others), commits once, then resolves every future. Under load a batch holds dozens of
requests, so durable (``synchronous=FULL``) commits cost little per request.

A connection that ``usable`` says is lost (a database server restarted, say) is replaced
before the next batch; while none can be made, every batch fails with ``ServiceUnavailable``.
Once stopped, the writer fails whatever is still queued or submitted later: no caller waits
forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import structlog

from gateway.errors import ServiceUnavailable

log = structlog.get_logger("gateway.journal")
R = TypeVar("R")
_STOP = object()


class GroupCommitWriter:
    """Runs write operations in batches on one connection in one thread."""

    def __init__(self, connect: Callable[[], Any], *, begin: str = "BEGIN",
                 max_batch: int = 512, name: str = "journal-writer",
                 usable: Callable[[Any], bool] | None = None) -> None:
        self._connect = connect
        self._begin = begin
        self._max_batch = max_batch
        self._usable = usable or (lambda conn: True)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise ServiceUnavailable(f"the journal cannot be opened: {self._error}")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, op: Callable[[Any], R]) -> concurrent.futures.Future[R]:
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        with self._lock:
            if not self._closed and self._thread.is_alive():
                self._queue.put((future, op))
                return future
        future.set_exception(ServiceUnavailable("the journal writer is not running"))
        return future

    async def run(self, op: Callable[[Any], R]) -> R:
        return await asyncio.wrap_future(self.submit(op))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._closed = True
            self._started.set()
            return
        self._started.set()
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                conn = self._reconnected(conn, batch)
                if conn is not None:
                    self._commit(conn, batch)
        finally:
            self._shut(conn)

    def _reconnected(self, conn: Any, batch: list[tuple[concurrent.futures.Future[Any], Any]]
                     ) -> Any:
        """``conn`` if usable, else a new connection; ``None`` (batch failed) if none can be had."""
        if conn is not None and self._usable(conn):
            return conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        try:
            fresh = self._connect()
        except Exception as exc:  # noqa: BLE001 - reported to every caller of the batch
            log.error("journal.reconnect_failed", error=str(exc), batch=len(batch))
            _fail(batch, ServiceUnavailable(f"the journal is unreachable: {exc}"))
            return None
        log.warning("journal.reconnected")
        return fresh

    def _shut(self, conn: Any) -> None:
        with self._lock:
            self._closed = True
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        stranded = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                stranded.append(item)
        _fail(stranded, ServiceUnavailable("the journal writer stopped"))

    def _next_batch(self) -> list[tuple[concurrent.futures.Future[Any], Any]] | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(item)
        return batch

    def _commit(self, conn: Any, batch: list[tuple[concurrent.futures.Future[Any], Any]]) -> None:
        # A caller that gave up (its task was cancelled) before its operation ran is skipped;
        # once running, a future can no longer be cancelled, so setting its result is safe.
        batch = [(future, op) for future, op in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        outcomes: list[tuple[concurrent.futures.Future[Any], Any, BaseException | None]] = []
        try:
            cur = conn.cursor()
            cur.execute(self._begin)
            for future, op in batch:
                cur.execute("SAVEPOINT op")
                try:
                    result = op(cur)
                except Exception as exc:  # noqa: BLE001 - belongs to this caller only
                    cur.execute("ROLLBACK TO SAVEPOINT op")
                    outcomes.append((future, None, exc))
                else:
                    outcomes.append((future, result, None))
                cur.execute("RELEASE SAVEPOINT op")
            cur.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the whole batch failed to commit
            log.error("journal.commit_failed", error=str(exc), batch=len(batch))
            with contextlib.suppress(Exception):      # nothing may have been open
                conn.execute("ROLLBACK")
            _fail(batch, ServiceUnavailable(f"the journal could not commit: {exc}"))
            return
        for future, result, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


def _fail(batch: list[tuple[concurrent.futures.Future[Any], Any]], error: Exception) -> None:
    for future, _ in batch:
        # a waiting caller may cancel at any moment: never let that kill the writer thread
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            if not future.done():
                future.set_exception(error)
