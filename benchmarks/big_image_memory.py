#!/usr/bin/env python3
"""Memory a camera_node keeps after one huge image on ``image_raw`` (issue 9).

Starts a camera_node (``source: topic``), feeds it small rgb8 images, then one
``--side`` x ``--side`` rgb8 image (20000 x 20000 = 1.2 GB by default), then small
images again, and prints the camera's resident memory (VmRSS) before, right
after and ``--settle-s`` after, with its ``/diagnostics`` counters: whether the
big image reached the callback (``rejected_too_large``) or was counted as a
sample that never did (``frames_missed``, from the driver's DDS sample numbers).

    tools/with_env.sh python benchmarks/big_image_memory.py [--side 20000]

The big image is published pre-serialized (CDR), so this process holds about
two copies of it, not four. Needs about 3x the image's size in free memory.
Every rclpy process runs with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST in a
ROS_DOMAIN_ID of its own (tools/with_env.sh sets both).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid``, MB."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return float('nan')


def serialized_image(side: int) -> bytes:
    """A ``side`` x ``side`` rgb8 ``sensor_msgs/Image`` of zeros, serialized (CDR)."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    msg = Image(height=side, width=side, encoding='rgb8', step=side * 3)
    msg.header.frame_id = 'big'
    head = serialize_message(msg)               # ends with data's length, 0
    n = side * side * 3
    return head[:-4] + n.to_bytes(4, 'little') + bytes(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--side', type=int, default=20000)
    ap.add_argument('--settle-s', type=float, default=10.0)
    a = ap.parse_args()

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from bottlefit_ros.conversions import rgb_to_image
    from bottlefit_ros.deployment import NodeSpec
    from bottlefit_ros.launcher import default_params_file, node_command, stop_processes
    from bottlefit_ros.nodes.camera_node import IMAGE_QOS

    out = Path(tempfile.mkdtemp(prefix='bottlefit_bigimage_'))
    cmd = node_command(NodeSpec('camera_node'), params_file=default_params_file(),
                       extra={'source': 'topic', 'start_when_subscribed': False,
                              'num_threads': 1, 'diagnostics_period_s': 0.5})
    log = (out / 'camera_node.log').open('w')
    camera = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    procs = {'camera_node': camera}
    rclpy.init()
    node = rclpy.create_node('big_image_driver')
    diag: dict[str, str] = {}
    node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: diag.update(
        {kv.key: kv.value for st in m.status if st.hardware_id == 'camera_node'
         for kv in st.values}), 10)
    pub = node.create_publisher(Image, 'image_raw', IMAGE_QOS)
    small = rgb_to_image(np.full((240, 320, 3), 100, np.uint8), node.get_clock().now().to_msg(),
                         'small')

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)

    def feed(n: int) -> None:
        for _ in range(n):
            pub.publish(small)
            spin(0.3)

    report: dict[str, object] = {'side': a.side, 'bytes': a.side * a.side * 3,
                                 'env': {k: os.environ.get(k, '') for k in (
                                     'FASTDDS_DEFAULT_PROFILES_FILE',
                                     'RMW_FASTRTPS_USE_QOS_FROM_XML')}}
    try:
        deadline = time.monotonic() + 120
        while (pub.get_subscription_count() == 0 or 'frames_in' not in diag) \
                and time.monotonic() < deadline:
            spin(0.1)
        if 'frames_in' not in diag:
            raise RuntimeError(f'camera did not start; log in {out}')
        feed(10)
        spin(2.0)
        report['rss_mb_before'] = rss_mb(camera.pid)
        report['counters_before'] = dict(diag)
        big = serialized_image(a.side)
        t0 = time.monotonic()
        pub.publish(big)
        report['publish_s'] = time.monotonic() - t0
        del big
        spin(2.0)
        feed(5)                          # a newer sample: the incomplete one is dropped
        report['rss_mb_after_big'] = rss_mb(camera.pid)
        spin(a.settle_s)
        feed(5)
        spin(2.0)
        report['rss_mb_settled'] = rss_mb(camera.pid)
        report['counters_after'] = dict(diag)
        report['camera_alive'] = camera.poll() is None
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop_processes(procs)
        log.close()
    report['camera_exit'] = camera.returncode
    report['log'] = str(out / 'camera_node.log')
    keys = ('frames_in', 'frames_missed', 'frames_sent', 'rejected_too_large',
            'frames_rejected')
    report['counters_before'] = {k: report['counters_before'].get(k) for k in keys}
    report['counters_after'] = {k: report['counters_after'].get(k) for k in keys}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
