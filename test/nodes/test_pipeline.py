"""The three nodes as separate processes deliver every frame, with the labels
the same head, codec and tail give in one process, and (on the sample photos)
the unsplit model's."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from bottlefit_ros.framelog import read_frame_log
from bottlefit_ros.runtime import EdgeRunner, ModelSpec, RobotRunner
from bottlefit_ros.sources import FolderSource, frames

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def reference_labels(mode: str, spec: ModelSpec) -> list[str]:
    """Top-1 labels of the sample photos, computed in this process."""
    robot = RobotRunner(spec, mode=mode)
    edge = EdgeRunner(spec) if mode != 'local' else None
    labels = []
    for rgb in frames(FolderSource(loop=False)):
        out = robot.process(rgb)
        if mode == 'offload':
            result = edge.process_jpeg(out.jpeg, fmt=out.jpeg_format).result
        else:
            result = out.result if edge is None else edge.process(out.encoded).result
        labels.append(result.labels[0])
    return labels


def unsplit_labels(spec: ModelSpec) -> list[str]:
    model = spec.build()
    robot = RobotRunner(spec, mode='local')
    with torch.inference_mode():
        return [robot.labels[int(model(torch.from_numpy(robot.preprocess(rgb))).argmax())]
                for rgb in frames(FolderSource(loop=False))]


# The packaged default (BottleFit student) in each mode, and the natural split,
# whose labels must also be the unsplit teacher's.
@pytest.mark.parametrize('mode,channels', [('split', None), ('offload', None), ('local', None),
                                           ('split', 0)],
                         ids=['split', 'offload', 'local', 'split-natural'])
def test_every_frame_delivered_with_reference_labels(mode, channels, nodes, tmp_path, wait_for):
    spec = ModelSpec() if channels is None else ModelSpec(bottleneck_channels=channels)
    model_params = {'bottleneck_channels': spec.bottleneck_channels}
    n_frames = len(FolderSource(loop=False))
    csv_path, summary_path = tmp_path / 'frames.csv', tmp_path / 'summary.json'
    mcap_path = tmp_path / 'frames.mcap'
    if mode != 'local':
        nodes.start('edge_node', num_threads=1, **model_params)
    monitor = nodes.start('monitor_node', max_frames=n_frames, csv_path=str(csv_path),
                          mcap_path=str(mcap_path), summary_path=str(summary_path))
    nodes.start('camera_node', mode=mode, source='folder', loop=False, max_frames=n_frames,
                rate_hz=5.0, num_threads=1, **model_params)
    finished = wait_for(lambda: monitor.poll() is not None, timeout_s=150)
    assert finished, 'monitor did not receive all frames:' + nodes.logs()
    assert monitor.returncode == 0, nodes.logs()

    with csv_path.open() as f:
        rows_in_arrival_order = list(csv.DictReader(f))
    rows = sorted(rows_in_arrival_order, key=lambda r: int(r['seq']))
    assert [int(r['seq']) for r in rows] == list(range(n_frames))
    assert {r['mode'] for r in rows} == {mode}
    got = [r['top1_label'] for r in rows]
    assert got == reference_labels(mode, spec)
    if spec.bottleneck_channels == 0:   # natural split: 8-bit bottleneck, teacher's labels
        assert got == unsplit_labels(spec)
    for r in rows:
        assert float(r['e2e_ms']) > 0
        assert float(r['e2e_ms']) >= float(r['head_ms'])
        assert (int(r['payload_bytes']) > 0) == (mode != 'local')
        if mode == 'offload':       # a CompressedImage carries no robot stage timings
            assert float(r['head_ms']) == float(r['encode_ms']) == 0.0
        assert float(r['energy_j']) > 0 and r['energy_measured'] == 'False'
    mcap_records = read_frame_log(mcap_path)
    assert [r.seq for r in mcap_records] == [int(r['seq']) for r in rows_in_arrival_order]
    assert [r.top1_label for r in mcap_records] == [r['top1_label'] for r in rows_in_arrival_order]
    summary = json.loads(summary_path.read_text())
    assert summary['frames_delivered'] == n_frames and summary['frames_lost'] == 0
