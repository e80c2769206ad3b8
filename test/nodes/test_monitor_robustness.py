"""The monitor node under bad results from another process: it never exits,
counts each in /diagnostics under its reason, measures nothing twice or from a
forged field, keeps measuring the valid results that follow, and escapes
message text before it reaches a log line. An idle monitor says so, without
NaN figures."""
from __future__ import annotations

import json
import re
import signal

import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from rclpy.duration import Duration  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from bottlefit_ros.msg import Classification, FrameMetrics  # noqa: E402
from bottlefit_ros.nodes.monitor_node import OUTCOME_KEYS  # noqa: E402

pytestmark = [pytest.mark.ros]

# Deep enough to hold every result of a test (the edge's RESULT_QOS keeps 10).
QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
FORGED = '\n[FATAL] [monitor_node]: forged'


def result(node, seq: int, *, age_ms: float = 40.0, **fields) -> Classification:
    m = Classification()
    m.header.stamp = (node.get_clock().now() - Duration(nanoseconds=int(age_ms * 1e6))).to_msg()
    m.header.frame_id = 'camera'
    m.seq, m.mode, m.model = seq, 'split', 'efficientnet_lite0'
    m.class_ids, m.labels, m.scores = [281, 282], ['tabby', 'tiger cat'], [0.8, 0.1]
    m.payload_bytes = 7000
    m.timings.preprocess_ms, m.timings.head_ms, m.timings.encode_ms = 1.0, 5.0, 0.5
    m.timings.decode_ms, m.timings.tail_ms = 0.5, 8.0
    for key, value in fields.items():
        if key in ('preprocess_ms', 'head_ms', 'encode_ms', 'decode_ms', 'tail_ms'):
            setattr(m.timings, key, value)
        else:
            setattr(m, key, value)
    return m


class Diagnostics:
    """The monitor's latest /diagnostics values."""

    def __init__(self, node) -> None:
        self.values: dict[str, str] = {}
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on, 10)

    def _on(self, arr: DiagnosticArray) -> None:
        for st in arr.status:
            if st.hardware_id == 'monitor_node':
                self.values = {kv.key: kv.value for kv in st.values}


def test_bad_results_are_counted_by_reason_and_valid_ones_still_measured(
        nodes, ros_node, tmp_path, wait_for):
    summary_path = tmp_path / 'summary.json'
    monitor = nodes.start('monitor_node', summary_path=str(summary_path), summary_period_s=0.2,
                          power_reader='estimate', power_profile='jetson_nano')
    node = ros_node.node
    pub = node.create_publisher(Classification, 'classification', QOS)
    metrics: list[FrameMetrics] = []
    metrics_sub = node.create_subscription(FrameMetrics, 'frame_metrics', metrics.append, 50)
    diag = Diagnostics(node)
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'results' in diag.values
                    and metrics_sub.get_publisher_count() > 0,
                    timeout_s=60, poll=ros_node.spin), nodes.log('monitor_node')

    bad_stamp = result(node, 5)
    bad_stamp.header.stamp.nanosec = 1_500_000_000      # Time.from_msg refuses it
    sent = [
        result(node, 0), result(node, 1),
        result(node, 2, age_ms=-1000.0),                 # stamped 1 s ahead: a skewed camera
        result(node, 3, head_ms=-5.0),
        result(node, 4, tail_ms=float('nan')),
        bad_stamp,
        result(node, 2**64 - 1),                         # forged seq
        result(node, 6, payload_bytes=2**32 - 1),        # would be 9 kW
        result(node, 7, scores=[float('nan'), 0.1]),
        result(node, 8, labels=['tabby' + FORGED, 'tiger cat']),   # valid, measured
        result(node, 1),                                 # a duplicate of frame 1
        result(node, 9, scores=[1.5, 0.1]),
    ]
    sent[-2].header.stamp = sent[1].header.stamp
    sent[3].header.frame_id = 'camera' + FORGED
    for m in sent:
        pub.publish(m)
    pub.publish(result(node, 10))                        # and the stream goes on
    expected = {'results_in': 13, 'results': 4, 'results_rejected': 6,
                'rejected_bad_timings': 2, 'rejected_bad_stamp': 1, 'rejected_too_large': 1,
                'rejected_bad_scores': 2, 'results_future_stamp': 1, 'results_seq_jump': 1,
                'results_duplicate': 1, 'results_before_start': 0}
    assert wait_for(lambda: all(diag.values.get(k) == str(v) for k, v in expected.items())
                    and len(metrics) == 4, timeout_s=30, poll=ros_node.spin), \
        (diag.values, [m.seq for m in metrics], nodes.log('monitor_node'))
    assert monitor.poll() is None, nodes.log('monitor_node')
    assert [m.seq for m in metrics] == [0, 1, 8, 10]
    assert sum(int(diag.values[k]) for k in OUTCOME_KEYS) == 13   # each counted once
    # Frame 5's stamp was invalid, so nothing in it was trusted: it counts as lost.
    # The forged seq 2^64-1 adds nothing.
    assert diag.values['frames_lost'] == '1'
    assert diag.values['rejected_internal_error'] == '0'

    monitor.send_signal(signal.SIGINT)
    assert monitor.wait(30) == 0
    summary = json.loads(summary_path.read_text())
    assert summary['frames_delivered'] == 4 and summary['frames_lost'] == 1
    assert summary['bytes_per_frame'] == 7000
    assert summary['mean_power_w'] < 100
    log = nodes.log('monitor_node')
    # One warning per reason, the future stamp's with its offset.
    assert re.search(r'seq=2 is stamped (0\.9\d\d|1\.0\d\d) s after its arrival', log), log
    for reason in ('bad_timings', 'bad_stamp', 'too_large', 'bad_scores'):
        assert log.count(f'({reason}):') == 1, (reason, log)
    assert 'seq=1 was already delivered' in log and 'seq=18446744073709551615 jumps' in log
    # Message text reaches the log escaped: no forged line.
    assert '\n[FATAL] [monitor_node]: forged' not in log
    assert '\\n[FATAL] [monitor_node]: forged' in log
    assert 'configuration error' not in log and 'Traceback' not in log


def test_camera_restart_counts_no_losses(nodes, ros_node, wait_for):
    nodes.start('monitor_node', summary_period_s=0.2, power_reader='estimate')
    node = ros_node.node
    pub = node.create_publisher(Classification, 'classification', QOS)
    diag = Diagnostics(node)
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'results' in diag.values,
                    timeout_s=60, poll=ros_node.spin), nodes.log('monitor_node')
    for seq in range(40):
        pub.publish(result(node, seq, age_ms=200.0 - seq))
    for seq in (0, 1, 3):                    # the camera restarted; its frame 2 was lost
        pub.publish(result(node, seq, age_ms=30.0 - seq))
    # 0 looks like a forged seq until 1 continues from it: counted, not measured
    assert wait_for(lambda: diag.values.get('results') == '42', timeout_s=30,
                    poll=ros_node.spin), (diag.values, nodes.log('monitor_node'))
    assert diag.values['seq_restarts'] == '1' and diag.values['frames_lost'] == '1'
    assert diag.values['results_seq_jump'] == '1' and diag.values['results_duplicate'] == '0'


def camera_status(node, frames_sent: str):
    arr = DiagnosticArray()
    arr.header.stamp = node.get_clock().now().to_msg()
    arr.status = [DiagnosticStatus(name='/camera_node', hardware_id='camera_node',
                                   values=[KeyValue(key='frames_sent', value=frames_sent)])]
    return arr


def test_frames_lost_after_the_last_result_come_from_the_cameras_count(
        nodes, ros_node, tmp_path, wait_for):
    """An edge that stops answering: the camera's /diagnostics say how many it sent."""
    summary_path = tmp_path / 'summary.json'
    monitor = nodes.start('monitor_node', summary_period_s=0.2, power_reader='estimate',
                          summary_path=str(summary_path))
    node = ros_node.node
    pub = node.create_publisher(Classification, 'classification', QOS)
    diag_pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
    diag = Diagnostics(node)
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'results' in diag.values
                    and diag_pub.get_subscription_count() > 0,
                    timeout_s=60, poll=ros_node.spin), nodes.log('monitor_node')
    for seq in (0, 1, 3):
        pub.publish(result(node, seq))
    diag_pub.publish(camera_status(node, 'not a number'))     # counted, ignored
    diag_pub.publish(camera_status(node, '10'))               # 4..9 never answered
    assert wait_for(lambda: diag.values.get('camera_frames_sent') == '10'
                    and diag.values.get('results') == '3', timeout_s=30,
                    poll=ros_node.spin), (diag.values, nodes.log('monitor_node'))
    # Once the camera's count is older than any frame in flight, it counts.
    assert wait_for(lambda: diag.values.get('frames_lost') == '7', timeout_s=30,
                    poll=ros_node.spin), (diag.values, nodes.log('monitor_node'))
    assert diag.values['camera_diagnostics_rejected'] == '1'
    monitor.send_signal(signal.SIGINT)
    assert monitor.wait(30) == 0
    assert json.loads(summary_path.read_text())['frames_lost'] == 7


def test_idle_monitor_says_no_results_instead_of_nan(nodes, ros_node, wait_for):
    monitor = nodes.start('monitor_node', summary_period_s=0.2, power_reader='estimate')
    assert wait_for(lambda: nodes.log('monitor_node').count('no results in the last') >= 3,
                    timeout_s=60), nodes.log('monitor_node')
    monitor.send_signal(signal.SIGINT)
    assert monitor.wait(30) == 0
    periodic = [line for line in nodes.log('monitor_node').splitlines()
                if 'frames,' in line and 'lost' in line]
    assert periodic and all('nan' not in line for line in periodic), periodic
