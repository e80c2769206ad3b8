#!/usr/bin/env python3
"""The scenario rehearsal's recorder: started by ``scenario_rehearsal.py`` in the
robot's namespace, beside the camera and the monitor, with the same DDS
environment. It appends one JSON line per event to the file given:

- ``{"k": "r", ...}`` each result on ``classification`` (edge, fallback or local),
  with its arrival on this clock (the monitor's), its capture stamp and frame_id,
  mode, seq, payload bytes and stage timings. Every result is kept, whatever its
  ``seq``: frames are told apart by capture stamp, as the camera matches them;
- ``{"k": "d", ...}`` each ``/diagnostics`` status of a ``camera_node``: its
  values (the frame account, ``frames_in``, ``frames_sent``, ...) over time.

    python scenario_recorder.py OUT.jsonl
"""
from __future__ import annotations

import json
import sys

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from bottlefit_ros.msg import Classification

TIMING_FIELDS = ('preprocess_ms', 'head_ms', 'encode_ms', 'decode_ms', 'tail_ms')


def main(argv: list[str]) -> int:
    out = open(argv[1], 'a', buffering=1, encoding='utf-8')   # noqa: SIM115 - lives as long
    rclpy.init()
    node = Node('scenario_recorder')
    clock = node.get_clock()

    def write(event: dict) -> None:
        out.write(json.dumps(event, separators=(',', ':')) + '\n')

    def on_result(msg: Classification) -> None:
        arrival_ns = clock.now().nanoseconds
        t = msg.timings
        write({'k': 'r', 'arrival_ns': arrival_ns,
               'stamp_ns': msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec,
               'frame_id': msg.header.frame_id, 'mode': msg.mode, 'seq': int(msg.seq),
               'payload_bytes': int(msg.payload_bytes),
               **{f: float(getattr(t, f)) for f in TIMING_FIELDS}})

    def on_diagnostics(arr: DiagnosticArray) -> None:
        now_ns = clock.now().nanoseconds
        for st in arr.status:
            if st.name.rsplit('/', 1)[-1] == 'camera_node':
                write({'k': 'd', 'time_ns': now_ns, 'message': st.message,
                       'values': {kv.key: kv.value for kv in st.values}})

    # As the monitor subscribes: reliable, transient-local (results published
    # before the match still arrive).
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(Classification, 'classification', on_result, qos)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 50)
    print('scenario_recorder: recording', flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        out.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
