"""The camera's deadline per frame and its local fallback, on ROS: a thin adapter
of :mod:`bottlefit_ros.inflight` (:class:`FrameLedger`, :class:`EdgeLiveness`)
that the camera node builds in ``configure`` when ``deadline_ms`` > 0.

It subscribes ``classification`` (the edge's results; results of the modes the
camera publishes itself, ``local`` and ``fallback``, are ignored), matches them
to the frames in flight by (``header.stamp``, ``header.frame_id``), and checks
the deadlines on a timer: a frame without a result by its deadline less the
lead (the robot's measured time to answer a frame, seeded by the warm-up's,
plus the timer's period; at most half the deadline) is classified with the
whole model here and published on ``classification`` with mode ``fallback``
and the frame's ``seq``, so its answer is out by the deadline. The edge's liveness comes from the
matched subscription count of the publisher that sends frames to it (DDS) and
from deadline misses.

With an ``observer`` (the adaptive policy's ``observe``), every frame answered
gives it an :class:`~bottlefit_ros.policy.Observation`: robot and edge compute
from the result's timings, transport as the rest of the time from the camera
starting on the frame to the result (a frame answered here: to its result
published, which under a CPU quota waits for the CPU too); a missed deadline
is observed as a miss of that mode (``missed``), with the time to its fallback
answer. ``on_edge_back`` (the policy's
``edge_returned``) is called when a lost edge answers again or a new one matches.
"""
from __future__ import annotations

import time
from typing import Callable

from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header
from builtin_interfaces.msg import Time as TimeMsg

from bottlefit_ros.conversions import classification_msg
from bottlefit_ros.deployment import FALLBACK_MODE
from bottlefit_ros.inflight import (ANSWERED_FALLBACK, ANSWERED_LOCAL, EdgeLiveness, Frame,
                                    FrameLedger)
from bottlefit_ros.msg import Classification
from bottlefit_ros.nodes._common import QOS_OVERRIDES, safe_text
from bottlefit_ros.policy import EDGE_MODES, Observation
from bottlefit_ros.runtime import RobotOutput, RobotRunner

# The edge's results: reliable and volatile (history from before this camera
# started answers none of its frames); matches the edge's RESULT_QOS publisher.
RESULT_SUB_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
# While the edge is lost but matched: a frame sent as a probe 1 s after the last,
# the wait doubling after each unanswered one up to 8 s.
PROBE_PERIOD_S = 1.0
MAX_PROBE_PERIOD_S = 8.0
LOG_EVERY_S = 5.0


class FallbackGuard:
    """See the module docstring. ``result_pub`` publishes ``classification``."""

    def __init__(self, node, runner: RobotRunner, result_pub, edge_pub, *, deadline_s: float,
                 capacity: int, max_age_s: float, lost_after: int,
                 local_ms: float = float('nan')) -> None:
        self.node = node
        self.runner = runner
        self.result_pub = result_pub
        # Deadlines are checked this often: the lead covers it.
        period_s = min(0.02, max(0.005, deadline_s / 10))
        self.ledger = FrameLedger(deadline_s=deadline_s, capacity=capacity, max_age_s=max_age_s,
                                  remember=max(1024, 4 * capacity), slack_s=period_s)
        self.ledger.note_local(local_ms / 1e3)     # the warm-up's whole model, if given
        self.edge = EdgeLiveness(lost_after=lost_after, probe_period_s=PROBE_PERIOD_S,
                                 max_probe_period_s=MAX_PROBE_PERIOD_S)
        self.edge_lost = 0        # times the edge was declared lost
        self._was_alive = False
        self._edge_pub = edge_pub     # None: no edge mode loaded
        self.observer: Callable[[Observation], None] | None = None
        self.on_edge_back: Callable[[], None] | None = None
        self.sub = node.create_subscription(Classification, 'classification', self._on_result,
                                            RESULT_SUB_QOS, qos_overriding_options=QOS_OVERRIDES)
        self.timer = node.create_timer(period_s, self._on_timer)

    # -- the camera's side -------------------------------------------------
    def edge_alive(self) -> bool:
        """Whether the edge answers now (DDS match refreshed)."""
        if self._edge_pub is not None:
            self._update_matched()
        return self.edge.alive

    def send_to_edge(self, edge_pub, now_s: float) -> bool:
        """Whether the frame read at ``now_s`` goes to the edge through
        ``edge_pub`` (else the camera answers it here at once, as a fallback)."""
        self._edge_pub = edge_pub
        self._update_matched()
        return self.edge.should_send(now_s)

    def account(self, stamp, frame_id: str, seq: int, out: RobotOutput, started_s: float,
                fallback: bool) -> None:
        """Enter a frame the camera published: a result it published itself
        (``fallback``: answered here at once) is counted; a frame sent to the edge
        goes in flight."""
        if out.result is not None:
            self.ledger.record(ANSWERED_FALLBACK if fallback else ANSWERED_LOCAL)
            self.ledger.note_local((out.timings.preprocess_ms + out.timings.head_ms) / 1e3)
            self._observe('local', out.timings, 0, 0.0, (time.monotonic() - started_s) * 1e3)
            return
        key = (stamp.sec, stamp.nanosec, frame_id)
        for frame in self.ledger.add(key, seq, started_s, data=out):
            self.node.get_logger().warning(
                f'frame seq={frame.seq} {frame.outcome} ({self.ledger.in_flight} in flight, '
                f'max_in_flight {self.ledger.capacity})', throttle_duration_sec=LOG_EVERY_S)

    def status(self) -> dict[str, str]:
        """This guard's /diagnostics values (integers, as all the camera's)."""
        return {**{k: str(v) for k, v in self.ledger.account().items()},
                'unknown_results': str(self.ledger.unknown_results),
                'edge_alive': str(int(self.edge.alive)), 'edge_lost': str(self.edge_lost),
                'edge_probes': str(self.edge.probes),
                'deadline_ms': f'{self.ledger.deadline_s * 1e3:g}',
                'fallback_lead_ms': f'{self.ledger.lead_s * 1e3:.0f}'}

    def entities(self) -> tuple:
        """The timer and subscription, for the node to destroy."""
        return self.timer, self.sub

    def close(self) -> None:
        """The node is cleaned up: frames still in flight are dropped (counted)."""
        self.ledger.drop_all()

    # -- results and deadlines ---------------------------------------------
    def _on_result(self, msg: Classification) -> None:
        """Match one edge result; never raises."""
        try:
            if msg.mode not in EDGE_MODES:     # local or fallback: this camera's own
                return
            stamp = msg.header.stamp
            kind, frame = self.ledger.answer((stamp.sec, stamp.nanosec, msg.header.frame_id))
            if kind == FrameLedger.MATCHED:
                self.edge.answered()
                self._note_state()      # an edge back: the policy forgets it first ...
                t = msg.timings         # ... then learns from this result
                self._observe(msg.mode, t, int(msg.payload_bytes), t.decode_ms + t.tail_ms,
                              (time.monotonic() - frame.started_s) * 1e3)
            elif kind == FrameLedger.LATE:
                self.node.get_logger().info(
                    f'late edge result (seq={msg.seq}) for a frame already answered here or '
                    f'dropped [late_results: {self.ledger.late_results}]',
                    throttle_duration_sec=LOG_EVERY_S)
        except Exception as exc:  # noqa: BLE001 - no result may stop the camera
            self.node.get_logger().warning(f'cannot match a result: {safe_text(exc)}',
                                           throttle_duration_sec=LOG_EVERY_S)

    def _on_timer(self) -> None:
        """Answer here every frame whose deadline passed; never raises."""
        try:
            if self._edge_pub is not None:
                self._update_matched()
            while (frame := self.ledger.next_due(time.monotonic())) is not None:
                self.edge.missed()
                self._fallback(frame)
            self._note_state()
        except Exception as exc:  # noqa: BLE001 - keep serving
            self.node.get_logger().error(f'deadline check failed: {exc!r}',
                                         throttle_duration_sec=LOG_EVERY_S)

    def _fallback(self, frame: Frame) -> None:
        out: RobotOutput = frame.data
        try:
            t0 = time.monotonic()
            result, timings = self.runner.classify(out)
            self.ledger.note_local(time.monotonic() - t0)
            sec, nanosec, frame_id = frame.key
            self.result_pub.publish(classification_msg(
                result, header=Header(stamp=TimeMsg(sec=sec, nanosec=nanosec), frame_id=frame_id),
                seq=frame.seq, mode=FALLBACK_MODE, model=self.runner.info.model,
                payload_bytes=out.payload_bytes, timings=timings))
        except Exception as exc:  # noqa: BLE001 - count it, keep serving
            self.ledger.settle(frame, 'dropped_error')
            self.node.get_logger().warning(f'cannot answer frame seq={frame.seq} here: {exc!r}',
                                           throttle_duration_sec=LOG_EVERY_S)
            return
        self.ledger.settle(frame, ANSWERED_FALLBACK)
        # That mode missed its deadline: what the policy should know of it.
        self._observe(out.mode, out.timings, out.payload_bytes, 0.0,
                      (time.monotonic() - frame.started_s) * 1e3, missed=True)

    def _observe(self, mode: str, t, payload_bytes: int, edge_ms: float,
                 e2e_ms: float, missed: bool = False) -> None:
        if self.observer is None:
            return
        robot_ms = t.preprocess_ms + t.head_ms + t.encode_ms
        self.observer(Observation(mode, robot_ms, edge_ms, payload_bytes,
                                  max(0.0, e2e_ms - robot_ms - edge_ms), missed))

    def _update_matched(self) -> None:
        self.edge.update_matched(self._edge_pub.get_subscription_count())
        self._note_state()

    def _note_state(self) -> None:
        """Log (and count) the edge being lost or back."""
        alive = self.edge.alive
        if alive == self._was_alive:
            return
        self._was_alive = alive
        if alive:
            self.node.get_logger().info('edge answers: frames go to the edge')
            if self.edge_lost and self.on_edge_back is not None:
                self.on_edge_back()
        else:
            self.edge_lost += 1
            self.node.get_logger().warning(
                f'edge lost ({self.edge.why_not}): frames are answered here (fallback); '
                f'while a subscriber is matched, probes {PROBE_PERIOD_S:g} s apart, the wait '
                f'doubling up to {MAX_PROBE_PERIOD_S:g} s')
