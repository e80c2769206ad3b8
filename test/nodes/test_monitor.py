"""The monitor node alone: per-frame metrics from result messages, malformed
results and results captured before it started counted and not measured,
/diagnostics, and the summary written at shutdown."""
from __future__ import annotations

import json
import signal

import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.duration import Duration  # noqa: E402

from bottlefit_ros.framelog import read_frame_log  # noqa: E402
from bottlefit_ros.msg import Classification, FrameMetrics  # noqa: E402
from bottlefit_ros.nodes._common import RESULT_QOS  # noqa: E402

pytestmark = [pytest.mark.ros]


def result(node, seq: int, *, age_ms: float, labels=('tabby',)) -> Classification:
    m = Classification()
    m.header.stamp = (node.get_clock().now() - Duration(nanoseconds=int(age_ms * 1e6))).to_msg()
    m.header.frame_id = 'camera'
    m.seq, m.mode, m.model = seq, 'split', 'efficientnet_lite0'
    m.class_ids = list(range(len(labels)))
    m.labels = list(labels)
    m.scores = [0.9] * len(labels)
    m.payload_bytes = 1000 + seq
    m.timings.preprocess_ms, m.timings.head_ms, m.timings.encode_ms = 1.0, 5.0, 0.5
    m.timings.decode_ms, m.timings.tail_ms = 0.5, 8.0
    return m


def test_monitor_measures_counts_and_summarizes(nodes, ros_node, tmp_path, wait_for):
    summary_path, mcap_path = tmp_path / 'summary.json', tmp_path / 'frames.mcap'
    monitor = nodes.start('monitor_node', summary_path=str(summary_path),
                          mcap_path=str(mcap_path), summary_period_s=0.2,
                          power_reader='estimate', power_profile='jetson_nano')
    node = ros_node.node
    pub = node.create_publisher(Classification, 'classification', RESULT_QOS)  # the edge's
    metrics: list[FrameMetrics] = []
    metrics_sub = node.create_subscription(FrameMetrics, 'frame_metrics', metrics.append, 50)
    diag: dict[str, str] = {}

    def on_diag(arr: DiagnosticArray) -> None:
        for st in arr.status:
            if st.hardware_id == 'monitor_node':
                diag.update({kv.key: kv.value for kv in st.values})
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    # Its first status comes a period after it started, so the results below,
    # stamped 40 ms before they are sent, were captured after it started.
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'results' in diag
                    and metrics_sub.get_publisher_count() > 0,
                    timeout_s=60, poll=ros_node.spin), nodes.log('monitor_node')

    for seq in (0, 1, 3):                      # frame 2 never arrives
        pub.publish(result(node, seq, age_ms=40.0))
    pub.publish(result(node, 4, age_ms=40.0, labels=()))   # malformed: no classes
    pub.publish(result(node, 5, age_ms=3.6e6))   # captured an hour before the monitor started
    assert wait_for(lambda: len(metrics) == 3 and diag.get('results_rejected') == '1'
                    and diag.get('results_before_start') == '1'
                    and diag.get('results') == '3', timeout_s=30, poll=ros_node.spin), \
        (len(metrics), diag, nodes.log('monitor_node'))

    # A status covers the frames of its own period; totals stay.
    assert wait_for(lambda: diag.get('period_frames') == '0', timeout_s=30, poll=ros_node.spin)
    assert diag['results'] == '3' and diag['frames_lost'] == '1' and diag['e2e_p50_ms'] == 'nan'
    assert [m.seq for m in metrics] == [0, 1, 3]
    for m in metrics:
        assert m.e2e_ms >= 40.0                 # stamped 40 ms before publishing
        assert m.transport_ms == pytest.approx(m.e2e_ms - 15.0, abs=0.01)
        assert m.energy_j > m.energy_compute_j > 0 and not m.energy_measured
        assert m.energy_method == 'estimate:jetson_nano:10w'   # the profile's default mode
    assert diag['frames_lost'] == '1' and diag['energy'] == 'estimated'

    monitor.send_signal(signal.SIGINT)
    monitor.wait(30)
    summary = json.loads(summary_path.read_text())
    assert summary['frames_delivered'] == 3 and summary['frames_lost'] == 1
    assert summary['bytes_per_frame'] == pytest.approx((1000 + 1001 + 1003) / 3)
    assert [r.seq for r in read_frame_log(mcap_path)] == [0, 1, 3]
    assert 'summary' in nodes.log('monitor_node')
