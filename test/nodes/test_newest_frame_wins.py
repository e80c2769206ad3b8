"""An edge slower than the frame rate, with real processes: it serves the newest
frames instead of a backlog, so frames wait at most about one camera period, not a
queue; every frame it did not answer is counted with its reason (replaced by a
newer one), and the monitor shows the reasons and 0 uncounted losses."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from bottlefit_ros.framelog import read_frame_log
from bottlefit_ros.metrics import FrameRecord

pytestmark = [pytest.mark.ros, pytest.mark.slow]

FRAMES = 300
EDGE_DROPS = ('dropped_replaced', 'frames_missed', 'dropped_inactive')


def _int(values: dict[str, str], key: str) -> int:
    return int(values.get(key, '0') or 0)


def _overloaded_run(nodes, diagnostics, ros_node, wait_for, out: Path,
                    **edge_params: object) -> tuple[list[FrameRecord], int]:
    """Camera at 100 Hz (head on ONNX Runtime), edge slower (tail on PyTorch eager,
    one thread); check that every frame is answered or counted, everywhere; return
    the monitor's records and the frames the edge counted as replaced."""
    out.mkdir()
    csv_path, summary_path = out / 'frames.csv', out / 'summary.json'
    diagnostics.clear()
    nodes.start('edge_node', backend='torch', num_threads=1, diagnostics_period_s=0.2,
                **edge_params)
    monitor = nodes.start('monitor_node', csv_path=str(csv_path),
                          summary_path=str(summary_path), summary_period_s=0.2,
                          power_reader='estimate')
    nodes.start('camera_node', backend='onnxruntime', num_threads=1, source='folder',
                loop=True, rate_hz=100.0, max_frames=FRAMES, diagnostics_period_s=0.2)
    cam = lambda: diagnostics.get('camera_node', {})      # noqa: E731
    edge = lambda: diagnostics.get('edge_node', {})       # noqa: E731
    mon = lambda: diagnostics.get('monitor_node', {})     # noqa: E731
    assert wait_for(lambda: _int(cam(), 'frames_sent') == FRAMES, timeout_s=180,
                    poll=ros_node.spin), nodes.logs()
    # Settled: every frame sent is served or counted by the edge, the monitor has
    # every answer, the camera's count and the edge's latest counts.
    accounted = lambda: (_int(edge(), 'frames_in')        # noqa: E731
                         + sum(_int(edge(), k) for k in EDGE_DROPS))
    assert wait_for(lambda: accounted() == FRAMES
                    and _int(mon(), 'results') == _int(edge(), 'frames_served')
                    and mon().get('camera_frames_sent') == str(FRAMES)
                    and _int(mon(), 'frames_lost') == FRAMES - _int(mon(), 'results')
                    and mon().get('edge_dropped_replaced') == edge().get('dropped_replaced'),
                    timeout_s=60, poll=ros_node.spin), (cam(), edge(), mon(), nodes.logs())
    e, m = dict(edge()), dict(mon())
    replaced = _int(e, 'dropped_replaced')
    assert replaced > 0, (e, 'the edge kept up: the test did not overload it')
    # Reliable delivery: nothing rejected, every drop after the edge's first frame a
    # replacement. Before it the edge cannot tell a frame replaced before its first
    # callback ran (the camera starts at 100 Hz on the match; a busy 2-core machine can
    # hold that callback past the next frame) from one sent before it heard the camera:
    # those count as missed, so they are the first frames and at most a few (CI once:
    # 1 of 300).
    unheard = _int(e, 'frames_missed')
    assert unheard <= 3 and _int(e, 'dropped_inactive') == 0, e
    assert _int(e, 'frames_in') == _int(e, 'frames_served'), e
    assert _int(e, 'frames_served') + replaced + unheard == FRAMES, e
    # The monitor shows the reasons and no uncounted loss.
    assert _int(m, 'edge_dropped_replaced') == replaced, m
    assert _int(m, 'edge_frames_missed') == unheard, m
    assert m['frames_lost_uncounted'] == '0', m
    nodes.stop()
    assert monitor.returncode == 0, nodes.logs()
    rows = read_frame_log(csv_path)
    seqs = [r.seq for r in rows]
    assert len(set(seqs)) == len(seqs) == FRAMES - replaced - unheard
    assert seqs == sorted(seqs) and seqs[-1] == FRAMES - 1    # the last frame is served
    assert seqs[0] == unheard, (seqs[:5], unheard)      # the missed ones are the first
    summary = json.loads(summary_path.read_text())
    assert (summary['frames_lost'] == replaced + unheard
            and summary['lost_uncounted'] == 0), summary
    assert summary['lost_by_reason']['edge_dropped_replaced'] == replaced, summary
    assert summary['lost_by_reason'].get('edge_frames_missed', 0) == unheard, summary
    return rows, replaced


def _waited_ms(rows: list[FrameRecord]) -> float:
    """Median time a frame spent neither computing on the robot nor being served:
    waiting in the edge's queue, plus DDS."""
    return statistics.median(r.e2e_ms - r.robot_compute_ms - r.decode_ms - r.tail_ms
                             for r in rows)


def test_a_slow_edge_serves_the_newest_frames_and_counts_the_replaced(
        nodes, diagnostics, ros_node, tmp_path, wait_for):
    rows, _ = _overloaded_run(nodes, diagnostics, ros_node, wait_for, tmp_path / 'newest')
    # The same overload with the former queue of ten (a qos_overrides parameter):
    # also fully counted (the queue is a ring), but frames wait behind a backlog.
    backlog, _ = _overloaded_run(nodes, diagnostics, ros_node, wait_for, tmp_path / 'queue10',
                                 **{'qos_overrides./bottleneck.subscription.depth': 10})
    newest_ms, backlog_ms = _waited_ms(rows), _waited_ms(backlog)
    print(f'median wait + DDS: newest frame {newest_ms:.1f} ms, queue of ten '
          f'{backlog_ms:.1f} ms')
    assert newest_ms < 0.5 * backlog_ms, (newest_ms, backlog_ms)
