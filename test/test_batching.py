"""Edge batching: frames of several robots classified in one network run give, frame by
frame, what the edge gives each alone; the window and the newest-frame rule hold."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from bottlefit_ros.batching import BatchWorker, EdgeBatcher, JpegFrame
from bottlefit_ros.codec import CodecError, EncodedTensor
from bottlefit_ros.runtime import EdgeRunner, ModelSpec, RobotRunner
from bottlefit_ros.sources import FolderSource, frames

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def photos():
    rgb = list(frames(FolderSource(loop=False)))
    return rgb + [np.ascontiguousarray(p[:, ::-1]) for p in rgb[:2]]      # 8 frames


@pytest.fixture(scope='module')
def robot():
    return RobotRunner(ModelSpec(), mode='split', modes=('offload',), threads=1)


@pytest.fixture(scope='module')
def encoded(robot, photos):
    robot.switch('split')
    return [robot.process(p).encoded for p in photos]


@pytest.fixture(scope='module', params=['torch', 'onnxruntime'])
def edge(request):
    return EdgeRunner(ModelSpec(), threads=1, backend=request.param)


def _same(single, batched):
    assert batched.class_ids == single.class_ids and batched.labels == single.labels
    assert np.allclose(batched.scores, single.scores, rtol=0, atol=1e-4)


def test_batched_results_are_each_frames_own(edge, encoded):
    single = [edge.process(e).result for e in encoded]
    batcher = EdgeBatcher(edge, max_batch=len(encoded))
    for i, e in enumerate(encoded):
        batcher.submit(f'robot{i}', e, tag=i)
    out = batcher.run_batch()
    assert [r.tag for r in out] == list(range(len(encoded)))      # arrival order
    assert [r.source for r in out] == [f'robot{i}' for i in range(len(encoded))]
    assert {r.batch_size for r in out} == {len(encoded)} and batcher.batches == 1
    for r, s in zip(out, single):
        assert r.error is None
        _same(s, r.output.result)
        assert r.output.timings.tail_ms > 0 and r.output.timings.decode_ms > 0
    assert len(batcher) == 0 and batcher.run_batch() == []


def test_max_batch_splits_and_jpeg_frames_run_on_the_whole_model(robot, photos, encoded):
    edge = EdgeRunner(ModelSpec(), threads=1)
    robot.switch('offload')
    jpegs = [JpegFrame(out.jpeg, out.jpeg_format)
             for out in (robot.process(p) for p in photos[:2])]
    frames_in = [encoded[0], jpegs[0], encoded[1], jpegs[1], encoded[2]]
    single = [(edge.process_jpeg(e.data, fmt=e.fmt) if isinstance(e, JpegFrame)
               else edge.process(e)).result for e in frames_in]
    batcher = EdgeBatcher(edge, max_batch=4, newest_only=False)
    for i, e in enumerate(frames_in):
        batcher.submit('robot', e, tag=i)
    first, second = batcher.run_batch(), batcher.run_batch()
    assert [r.tag for r in first] == [0, 1, 2, 3] and [r.tag for r in second] == [4]
    for r in first + second:
        _same(single[r.tag], r.output.result)


def test_window_and_newest_frame_per_robot(encoded):
    edge = EdgeRunner(ModelSpec(), threads=1)
    batcher = EdgeBatcher(edge, max_batch=3, max_wait_ms=50)
    t0 = time.perf_counter_ns()
    assert not batcher.ready() and batcher.due_ns() is None
    batcher.submit('a', encoded[0], tag='a0', arrival_ns=t0)
    assert not batcher.ready(t0 + 49_000_000)                     # window still open
    assert batcher.ready(t0 + 50_000_000)                         # closed: run what waits
    assert batcher.due_ns() == t0 + 50_000_000
    batcher.submit('a', encoded[1], tag='a1', arrival_ns=t0 + 1)  # replaces a0
    batcher.submit('b', encoded[2], tag='b0', arrival_ns=t0 + 2)
    assert len(batcher) == 2 and batcher.dropped_superseded == 1
    assert not batcher.ready(t0 + 1_000_000)
    batcher.submit('c', encoded[3], tag='c0', arrival_ns=t0 + 3)
    assert batcher.ready(t0 + 1_000_000)                          # full before the window
    out = batcher.run_batch()
    assert [r.tag for r in out] == ['a1', 'b0', 'c0']
    _same(edge.process(encoded[1]).result, out[0].output.result)


def test_malformed_frame_is_refused_at_submit_and_queues_nothing(encoded):
    edge = EdgeRunner(ModelSpec(), threads=1)
    batcher = EdgeBatcher(edge, max_batch=4)
    e = encoded[0]
    bad = EncodedTensor(e.codec, e.dtype, e.shape, e.scale, e.zero_point, e.raw_size,
                        e.payload[:-7])
    with pytest.raises(CodecError):
        batcher.submit('a', bad)
    wrong_shape = EncodedTensor(e.codec, e.dtype, (1, 3, 2, 2), e.scale, e.zero_point, 12,
                                e.payload)
    with pytest.raises(CodecError):
        batcher.submit('a', wrong_shape)
    assert len(batcher) == 0 and batcher.dropped_superseded == 0


def test_worker_batches_frames_of_several_threads(encoded):
    edge = EdgeRunner(ModelSpec(), threads=1)
    expected = [edge.process(e).result for e in encoded]
    got = []
    lock = threading.Lock()

    def on_result(r):
        with lock:
            got.append(r)

    worker = BatchWorker(EdgeBatcher(edge, max_batch=8, max_wait_ms=300), on_result).start()

    def robot(k):
        for i in range(k, len(encoded), 4):
            worker.submit(f'robot{k}-{i}', encoded[i], tag=i)

    senders = [threading.Thread(target=robot, args=(k,)) for k in range(4)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    deadline = time.monotonic() + 30
    while len(got) < len(encoded) and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert sorted(r.tag for r in got) == list(range(len(encoded)))
    assert max(r.batch_size for r in got) > 1                     # the window gathered frames
    for r in got:
        _same(expected[r.tag], r.output.result)
        assert r.latency_ms > 0


def test_arguments_are_checked():
    edge = EdgeRunner(ModelSpec(), threads=1)
    with pytest.raises(ValueError, match='max_batch'):
        EdgeBatcher(edge, max_batch=0)
    with pytest.raises(ValueError, match='max_wait_ms'):
        EdgeBatcher(edge, max_wait_ms=-1)


def test_batches_are_padded_to_a_few_shapes(encoded):
    edge = EdgeRunner(ModelSpec(), threads=1)
    seen = []
    real_run = edge.engine.run

    def spy(part, x):
        seen.append((part, x.shape[0]))
        return real_run(part, x)

    batcher = EdgeBatcher(edge, max_batch=6, newest_only=False)
    assert batcher.buckets == (1, 2, 4, 6)
    assert batcher.warmup() > 0
    edge.engine.run = spy
    single = [edge.process(e).result for e in encoded[:5]]
    seen.clear()
    for i, e in enumerate(encoded[:5]):
        batcher.submit('r', e, tag=i)
    out = batcher.run_batch()
    assert seen == [('tail', 6)] and [r.batch_size for r in out] == [5] * 5
    for r in out:
        _same(single[r.tag], r.output.result)
    batcher.submit('r', encoded[5], tag=5)
    batcher.submit('r', encoded[6], tag=6)
    batcher.submit('r', encoded[7], tag=7)
    assert [r.tag for r in batcher.run_batch()] == [5, 6, 7] and seen[-1] == ('tail', 4)
    assert EdgeBatcher(edge, max_batch=5, pad=False).buckets == (1, 2, 3, 4, 5)
