"""Many robots, one edge GPU: frames of several sources classified in one batch (ROS-free).

An :class:`EdgeBatcher` collects decoded frames from several sources (robot namespaces)
and runs the edge's network once on the stacked batch, through the
:class:`~bottlefit_ros.runtime.EdgeRunner`'s engine (any backend whose parts take a batch:
PyTorch, or an ONNX export, whose batch axis is dynamic). A batch is run when it holds
``max_batch`` frames or when its oldest frame has waited ``max_wait_ms`` (the window).
Each frame's result is what :meth:`EdgeRunner.process` gives for it alone (the same
:func:`~bottlefit_ros.runtime.top_k` of the same logits row). With ``newest_only`` a
source has at most one frame waiting: a newer frame replaces the older one, which is
counted in :attr:`EdgeBatcher.dropped_superseded` (the newest frame wins; nothing queues).

A batch is padded to the next power of two (at most ``max_batch``; the padding rows
repeat a frame and their outputs are discarded), so the engine sees a handful of batch
shapes, each compiled or tuned once (:meth:`EdgeBatcher.warmup` runs them all at start),
instead of every size from 1 to ``max_batch``.

Frames are decoded when they are submitted (the caller's thread, e.g. a subscription
callback), so decoding overlaps the wait; the runner's
:meth:`~bottlefit_ros.runtime.EdgeRunner.check` stays the caller's job, as with
:meth:`EdgeRunner.process`. :class:`BatchWorker` runs the batches on a thread of its own
and hands each frame's :class:`BatchResult` to a callback.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import numpy as np

from bottlefit_ros.codec import EncodedTensor, MalformedPayloadError
from bottlefit_ros.runtime import EdgeOutput, EdgeRunner, StageTimes, top_k

__all__ = ["BatchResult", "BatchWorker", "EdgeBatcher", "JpegFrame", "decode_frame"]


@dataclass(frozen=True)
class JpegFrame:
    """An offload frame: a JPEG and its ``sensor_msgs/CompressedImage`` format."""

    data: bytes
    fmt: str
    frame_id: str = ''


def decode_frame(runner: EdgeRunner, frame: EncodedTensor | JpegFrame) -> tuple[str, np.ndarray]:
    """``(part, input batch of one)`` for a frame, checked and decoded by the runner
    (:meth:`EdgeRunner.decode`, :meth:`EdgeRunner.decode_jpeg`) as its ``process``
    methods do.

    Raises :class:`bottlefit_ros.codec.CodecError` for a malformed or oversized payload.
    """
    if isinstance(frame, JpegFrame):
        return 'whole', runner.decode_jpeg(frame.data, fmt=frame.fmt, frame_id=frame.frame_id)
    return 'tail', runner.decode(frame)


@dataclass
class _Pending:
    source: Hashable
    tag: Any
    part: str
    x: np.ndarray
    arrival_ns: int
    decode_ms: float


@dataclass
class BatchResult:
    """One frame's outcome: ``output`` (as :meth:`EdgeRunner.process` gives) or ``error``."""

    source: Hashable
    tag: Any
    arrival_ns: int
    """When the frame was submitted (``time.perf_counter_ns`` unless the caller gave it)."""
    done_ns: int
    """When its batch's results were ready."""
    batch_size: int
    """Frames in the batch it ran in."""
    output: EdgeOutput | None = None
    """``timings.tail_ms`` is the whole batch's network time."""
    error: Exception | None = None

    @property
    def latency_ms(self) -> float:
        """Arrival to result: wait in the window, decode and network."""
        return (self.done_ns - self.arrival_ns) / 1e6


class EdgeBatcher:
    """Frames from several sources, classified ``max_batch`` at a time; see the module doc.

    Frames may be submitted from several threads while one other thread runs the batches
    (decoding is serialized: the runner's codec holds one zstd context; the padded input
    buffers are reused, so :meth:`run_batch` runs on one thread at a time).
    """

    def __init__(self, runner: EdgeRunner, *, max_batch: int = 16, max_wait_ms: float = 5.0,
                 newest_only: bool = True, pad: bool = True) -> None:
        if max_batch < 1:
            raise ValueError(f'max_batch must be >= 1, got {max_batch}')
        if max_wait_ms < 0:
            raise ValueError(f'max_wait_ms must be >= 0, got {max_wait_ms}')
        self.runner = runner
        self.max_batch = int(max_batch)
        self.max_wait_ns = int(max_wait_ms * 1e6)
        self.newest_only = newest_only
        self.buckets = tuple(sorted({min(1 << k, self.max_batch)
                                     for k in range(self.max_batch.bit_length() + 1)})) \
            if pad else tuple(range(1, self.max_batch + 1))
        """The batch sizes the engine is given."""
        self._buffers: dict[tuple[str, int], np.ndarray] = {}
        self.dropped_superseded = 0
        self.batches = 0
        self.frames = 0
        self._pending: OrderedDict[Any, _Pending] = OrderedDict()
        self._serial = 0
        self._lock = threading.Lock()
        self._decode_lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def submit(self, source: Hashable, enc: EncodedTensor | JpegFrame, *, tag: Any = None,
               arrival_ns: int | None = None) -> None:
        """Decode a checked frame of ``source`` and queue it for the next batch.

        Raises :class:`bottlefit_ros.codec.CodecError` (nothing is queued) for a malformed
        payload.
        """
        t0 = time.perf_counter_ns()
        arrival = t0 if arrival_ns is None else int(arrival_ns)
        with self._decode_lock:
            part, x = decode_frame(self.runner, enc)
        item = _Pending(source, tag, part, x, arrival, (time.perf_counter_ns() - t0) / 1e6)
        with self._lock:
            if self.newest_only:
                if self._pending.pop(('src', source), None) is not None:
                    self.dropped_superseded += 1
                self._pending[('src', source)] = item
            else:
                self._serial += 1
                self._pending[('seq', self._serial)] = item

    def due_ns(self) -> int | None:
        """When the window of the oldest waiting frame closes (None: nothing waits)."""
        with self._lock:
            if not self._pending:
                return None
            oldest = min(p.arrival_ns for p in self._pending.values())
        return oldest + self.max_wait_ns

    def ready(self, now_ns: int | None = None) -> bool:
        """A full batch waits, or the oldest frame's window has closed."""
        now = time.perf_counter_ns() if now_ns is None else now_ns
        with self._lock:
            if len(self._pending) >= self.max_batch:
                return True
        due = self.due_ns()
        return due is not None and now >= due

    def _input(self, part: str, rows: list[np.ndarray]) -> np.ndarray:
        """The rows stacked into this part's buffer of the bucket size, padding repeated."""
        n = len(rows)
        size = next(b for b in self.buckets if b >= n)
        buf = self._buffers.get((part, size))
        if buf is None or buf.shape[1:] != rows[0].shape[1:]:
            buf = self._buffers[(part, size)] = np.empty((size, *rows[0].shape[1:]), np.float32)
        for i, r in enumerate(rows):
            buf[i] = r[0]
        buf[n:] = buf[n - 1]
        return buf

    def warmup(self) -> float:
        """Run every bucket size once on each part the engine holds (zeros); seconds taken."""
        t0 = time.perf_counter()
        info = self.runner.info
        shapes = {'tail': tuple(info.head_output_shape), 'whole': (3, *info.input_size)}
        for part in self.runner.engine.parts:
            if part in shapes:
                for size in self.buckets:
                    self.runner.engine.run(part, np.zeros((size, *shapes[part]), np.float32))
        return time.perf_counter() - t0

    def run_batch(self) -> list[BatchResult]:
        """Classify up to ``max_batch`` waiting frames, oldest first, with one network run
        per part (``tail``; ``whole`` for JPEG frames); their results in that order."""
        with self._lock:
            order = sorted(self._pending.items(), key=lambda kv: kv[1].arrival_ns)
            taken = order[: self.max_batch]
            for key, _ in taken:
                del self._pending[key]
        items = [p for _, p in taken]
        if not items:
            return []
        outputs: list[EdgeOutput | Exception] = [MalformedPayloadError('not run')] * len(items)
        for part in ('tail', 'whole'):
            idx = [i for i, p in enumerate(items) if p.part == part]
            if not idx:
                continue
            x = self._input(part, [items[i].x for i in idx])
            t0 = time.perf_counter_ns()
            try:
                logits = self.runner.engine.run(part, x)
            except Exception as exc:  # noqa: BLE001 - every frame of the batch gets the error
                for i in idx:
                    outputs[i] = exc
                continue
            net_ms = (time.perf_counter_ns() - t0) / 1e6
            finite = np.isfinite(logits[:len(idx)].reshape(len(idx), -1)).all(axis=1)
            for row, i in enumerate(idx):
                if not finite[row]:
                    outputs[i] = MalformedPayloadError(
                        'the tail\'s output is not finite: the input values are out of the '
                        'range this model handles')
                    continue
                outputs[i] = EdgeOutput(top_k(logits[row], self.runner.labels, self.runner.k),
                                        StageTimes(decode_ms=items[i].decode_ms, tail_ms=net_ms))
        done = time.perf_counter_ns()
        self.batches += 1
        self.frames += len(items)
        return [BatchResult(p.source, p.tag, p.arrival_ns, done, len(items),
                            output=o if isinstance(o, EdgeOutput) else None,
                            error=o if isinstance(o, Exception) else None)
                for p, o in zip(items, outputs)]


class BatchWorker:
    """Runs an :class:`EdgeBatcher`'s batches on a thread as soon as they are ready.

    ``on_result(result)`` is called on that thread for every frame, in batch order.
    """

    def __init__(self, batcher: EdgeBatcher, on_result: Callable[[BatchResult], None]) -> None:
        self.batcher = batcher
        self.on_result = on_result
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name='edge-batcher', daemon=True)

    def start(self) -> BatchWorker:
        self._thread.start()
        return self

    def submit(self, source: Hashable, enc: EncodedTensor | JpegFrame, *, tag: Any = None,
               arrival_ns: int | None = None) -> None:
        """:meth:`EdgeBatcher.submit`, then wake the worker (a batch may now be full)."""
        self.batcher.submit(source, enc, tag=tag, arrival_ns=arrival_ns)
        with self._wake:
            self._wake.notify()

    def stop(self, drain: bool = True) -> None:
        """Stop the thread; with ``drain`` the frames still waiting are run first."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join()
        while drain and len(self.batcher):
            self._deliver(self.batcher.run_batch())

    def _deliver(self, results: list[BatchResult]) -> None:
        for r in results:
            self.on_result(r)

    def _loop(self) -> None:
        b = self.batcher
        while True:
            with self._wake:
                while not self._stop and not b.ready():
                    due = b.due_ns()
                    timeout = None if due is None else max(0.0, (due - time.perf_counter_ns()) / 1e9)
                    self._wake.wait(timeout)
                if self._stop:
                    return
            self._deliver(b.run_batch())
