"""The robot's runner: every mode it may switch to is loaded at start; switching
changes what the next frame does and nothing else."""
from __future__ import annotations

import pytest

from bottlefit_ros.runtime import EdgeRunner, ModelSpec, RobotRunner, top_k
from bottlefit_ros.sources import FolderSource, frames

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def photos():
    return list(frames(FolderSource(loop=False)))[:3]


def test_switching_modes_loads_nothing_and_matches_single_mode_runners(photos):
    spec = ModelSpec(bottleneck_channels=0)      # natural split: every mode gives one label
    robot = RobotRunner(spec, mode='split', modes=('local', 'offload'), threads=1)
    assert robot.modes == ('split', 'local', 'offload')
    assert robot.engine.parts == ('head', 'whole')          # never the tail
    edge = EdgeRunner(spec, threads=1)
    local_only = RobotRunner(spec, mode='local', threads=1)
    for rgb in photos:
        robot.switch('split')
        out = robot.process(rgb)
        assert out.mode == 'split' and out.encoded.codec == 'q8+zstd'
        split_label = edge.process(out.encoded).result.labels[0]
        robot.switch('local')
        local = robot.process(rgb)
        assert local.mode == 'local' and local.result is not None
        assert local.result == local_only.process(rgb).result
        robot.switch('offload')
        jpeg = robot.process(rgb)
        assert jpeg.mode == 'offload' and jpeg.encoded is None
        assert jpeg.jpeg[:2] == b'\xff\xd8' and jpeg.payload_bytes == len(jpeg.jpeg)
        assert jpeg.jpeg_format == 'jpeg'
        offload = edge.process_jpeg(jpeg.jpeg, fmt=jpeg.jpeg_format).result
        assert offload.labels[0] == local.result.labels[0]
        assert split_label == local.result.labels[0]


def test_a_mode_not_loaded_is_refused():
    robot = RobotRunner(ModelSpec(), mode='split', threads=1)
    assert robot.engine.parts == ('head',)
    with pytest.raises(ValueError, match='not loaded at start'):
        robot.switch('local')
    assert robot.mode == 'split'
    with pytest.raises(ValueError, match='mode must be one of'):
        RobotRunner(ModelSpec(), mode='teleport')


def test_top_k_is_softmax_best_first_ties_by_index():
    r = top_k([0.0, 2.0, 2.0, -1.0], ['a', 'b', 'c', 'd'], 3)
    assert r.class_ids == (1, 2, 0) and r.labels == ('b', 'c', 'a')
    assert sum(top_k([0.0, 2.0, 2.0, -1.0], 'abcd', 4).scores) == pytest.approx(1.0)
    assert r.scores[0] == pytest.approx(r.scores[1]) and r.scores[0] > r.scores[2]
    assert top_k([1.0], ['only'], 5).class_ids == (0,)


def test_fallback_classifies_the_kept_input_as_local_mode_would(photos):
    """A frame sent to the edge with keep_input can be answered here later: the
    same classes as local mode on that frame, the robot's stages timed on top."""
    robot = RobotRunner(ModelSpec(), mode='split', modes=('local', 'offload'), threads=1)
    robot.warm_up()
    for rgb in photos:
        local = robot.process(rgb, mode='local')
        for mode in ('split', 'offload'):
            out = robot.process(rgb, mode=mode, keep_input=True)
            assert out.mode == mode and out.input is not None
            result, timings = robot.classify(out)
            assert result == local.result
            assert timings.head_ms > out.timings.head_ms
            assert timings.encode_ms == out.timings.encode_ms
        assert robot.mode == 'split'              # a per-frame mode switches nothing
    assert robot.process(photos[0]).input is None   # nothing kept unless asked
    with pytest.raises(ValueError, match='keep_input'):
        robot.classify(robot.process(photos[0]))


def test_offload_keeps_a_copy_of_a_reused_frame_buffer(photos):
    robot = RobotRunner(ModelSpec(), mode='offload', modes=('local',), threads=1)
    frame = photos[0].copy()
    out = robot.process(frame, keep_input=True)
    expected = robot.classify(out)[0]
    frame[:] = 0                                  # the source overwrites its buffer
    assert robot.classify(out)[0] == expected


def test_a_per_frame_mode_must_be_loaded(photos):
    robot = RobotRunner(ModelSpec(), mode='split', threads=1)
    with pytest.raises(ValueError, match='not loaded'):
        robot.process(photos[0], mode='local')
