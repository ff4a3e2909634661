"""Bounded background stages around scene fusion's compute: a reader thread ahead, a writer thread behind.

Serial scene fusion does per tile: read the haloed windows (GDAL decodes, releasing the GIL),
compute (the network's oneDNN kernels or a classical method), write (clip, cast, GDAL encodes,
releasing the GIL). :func:`prefetch` runs the first step for the next tiles in a thread while
the main thread computes; :class:`WriteBehind` runs the last step in another thread. Each queue
holds at most ``depth`` items, so at most ``depth`` (+1 being made) tiles are in flight on
each side and memory stays bounded by the tile size. Order is kept: results are yielded and
written in the order of the input.

Errors: an exception in the reader is raised in the main thread where its item would have been
yielded; one in the writer is raised at the next :meth:`WriteBehind.submit` or when the block
exits; one in the main thread (the compute, ``KeyboardInterrupt``) stops both threads (each
finishes at most the item it is working on) before it propagates, so the caller's
``atomic_path`` removes the temporary file only once nothing writes to it any more.

Opt-in: ``PANSHARPEN_PIPELINE=1`` or ``fuse_scene(..., pipeline=True)`` (:func:`pipeline_enabled`);
by default everything runs in order in the calling thread. Both write the same bytes. On the
shared 2-core machine the pipelined full-scene ``fuse`` was 1.00-1.04x the serial time (probably
because other sessions kept the cores busy, leaving no idle core to overlap into; docs/performance.md,
"Full-scene fuse: reader and writer threads, oneDNN post-op fusion").
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, TypeVar

__all__ = ["pipeline_enabled", "prefetch", "WriteBehind"]

T = TypeVar("T")
R = TypeVar("R")
_END = object()  # end of the stream
_POLL = 0.1  # seconds between checks of the other side's stop/failure while a queue is full or empty


def pipeline_enabled(pipeline: bool | None = None) -> bool:
    """``pipeline`` when given, else ``$PANSHARPEN_PIPELINE`` (``1``/``true``/``yes``/``on`` turn it
    on), else False: on the shared 2-core machine the threads did not make ``fuse`` faster
    (docs/performance.md), so the serial path stays the default."""
    if pipeline is not None:
        return bool(pipeline)
    return os.environ.get("PANSHARPEN_PIPELINE", "0").strip().lower() in ("1", "true", "yes", "on")


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; False when stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def prefetch(items: Iterable[T], fn: Callable[[T], R], depth: int = 2, name: str = "pansharpen-reader") -> Iterator[R]:
    """``fn(item)`` for each item, in order, computed by a background thread up to ``depth`` results ahead.

    An exception raised by ``fn`` is re-raised by the generator at that item. Closing the generator
    (or an exception in the consumer, which closes it) stops the thread after its current item.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if not _put(q, fn(item), stop):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            _put(q, _Failure(exc), stop)
            return
        _put(q, _END, stop)

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                got = q.get(timeout=_POLL)
            except queue.Empty:
                if not thread.is_alive() and q.empty():  # pragma: no cover - the thread always sends _END or a failure
                    raise RuntimeError(f"{name} stopped without a result") from None
                continue
            if got is _END:
                return
            if isinstance(got, _Failure):
                raise got.exc
            yield got
    finally:
        stop.set()
        _drain(q)  # unblocks a put in progress
        thread.join()


class WriteBehind(Generic[T]):
    """``with WriteBehind(fn) as w: w.submit(item)`` calls ``fn(item)`` for each item, in order, in a
    background thread, at most ``depth`` items queued.

    Leaving the block normally waits for every item to be written and raises the writer's exception
    if it had one; leaving it by an exception stops the writer after its current item (the rest
    are dropped) and lets the exception propagate.
    """

    def __init__(self, fn: Callable[[T], None], depth: int = 2, name: str = "pansharpen-writer"):
        self._fn = fn
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is _END:
                return
            try:
                self._fn(item)
            except BaseException as exc:  # noqa: BLE001 - raised in the submitting thread
                self._error = exc
                self._stop.set()
                return

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, item: T) -> None:
        """Queue ``item`` (waits while ``depth`` items are queued); raises the writer's exception if it failed."""
        self._raise_error()
        if not _put(self._queue, item, self._stop):  # stopped: the writer failed
            self._raise_error()

    def __enter__(self) -> "WriteBehind[T]":
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            _put(self._queue, _END, self._stop)  # not put when the writer has failed and stopped
            self._thread.join()
            self._raise_error()
            return
        self._stop.set()
        _drain(self._queue)
        self._thread.join()

