"""Modes at run time and the deadline per frame, with real node processes: a mode
switched split -> local -> split while frames flow loses no frame; with the
edge killed mid-run, a frame's fallback result is out by its deadline (the
fallback starts the robot's measured answer time before it), split resumes
within 5 s of the edge's return, and every frame the camera sent ends as
exactly one outcome; beside a camera in offload mode whose results carry the
edge's numbers or its own (fallback), the monitor measures every frame once and
counts as lost what the camera dropped."""
from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RATE_HZ = 10.0
FALLBACK_RATE_HZ = 5.0
DEADLINE_MS = 300.0
# A fallback result is out by the deadline; this much more is allowed for the
# deadline timer's jitter and the delivery to this process on a loaded machine
# (before the fallback started early, it came deadline + the whole model +
# up to a timer period after capture: 320-400 ms here).
LATE_MS = 10.0


@dataclass
class Result:
    seq: int
    mode: str
    stamp_ns: int
    arrival_ns: int     # this host's clock, as the camera's stamps


def collect_results(ros_node) -> list[Result]:
    """Every ``classification`` result, as it arrives (reliable, transient-local)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from bottlefit_ros.msg import Classification
    results: list[Result] = []

    def on_result(msg: Classification) -> None:
        results.append(Result(int(msg.seq), msg.mode,
                              msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec,
                              time.time_ns()))
    qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_node.node.create_subscription(Classification, 'classification', on_result, qos)
    return results


def call(ros_node, wait_for, srv_type, name: str, request):
    """Call a service of a node process; its answer."""
    client = ros_node.node.create_client(srv_type, name)
    assert wait_for(client.service_is_ready, timeout_s=90, poll=ros_node.spin), name
    future = client.call_async(request)
    assert wait_for(future.done, timeout_s=30, poll=ros_node.spin), name
    return future.result()


def set_mode(ros_node, wait_for, mode: str):
    """``ros2 param set /camera_node mode MODE``; the SetParametersResult."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    request = SetParameters.Request(parameters=[Parameter(
        name='mode', value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                          string_value=mode))])
    return call(ros_node, wait_for, SetParameters, '/camera_node/set_parameters',
                request).results[0]


def camera_values(diagnostics) -> dict[str, int]:
    return {k: int(v) for k, v in diagnostics.get('camera_node', {}).items() if v.isdigit()}


def kill_edge(edge, results: list, fallbacks: int, nodes, ros_node, wait_for) -> int:
    """SIGKILL the edge (no goodbye to DDS) and wait for ``fallbacks`` fallback
    results after it; the kill's time (ns)."""
    edge.kill()
    edge.wait()
    killed_ns = time.time_ns()
    assert wait_for(lambda: sum(r.mode == 'fallback' and r.arrival_ns > killed_ns
                                for r in results) >= fallbacks, timeout_s=30,
                    poll=ros_node.spin), nodes.logs()
    return killed_ns


def stop_camera(nodes, ros_node, diagnostics, wait_for) -> tuple[dict[str, int], int, int]:
    """Deactivate the camera and wait until what was in flight resolved; its
    /diagnostics values, frames sent, and frames dropped with a reason."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    request = ChangeState.Request()
    request.transition.id = Transition.TRANSITION_DEACTIVATE
    assert call(ros_node, wait_for, ChangeState, '/camera_node/change_state',
                request).success
    end = time.monotonic() + 2.0      # past the last deadline, and a status period
    while time.monotonic() < end:
        ros_node.spin()
    assert wait_for(lambda: diagnostics.get('camera_node', {}).get('in_flight') == '0',
                    timeout_s=10, poll=ros_node.spin), nodes.logs()
    values = camera_values(diagnostics)
    dropped = sum(v for k, v in values.items() if k.startswith('dropped_')
                  and k not in ('dropped_inactive', 'dropped_not_ready'))
    return values, values['frames_sent'], dropped


def camera_mode(ros_node) -> dict[str, str]:
    """``{'mode': ...}``: the camera's current mode, from its /diagnostics message
    (``"split: 12 frames sent, 0 rejected"``), updated as ``ros_node`` spins."""
    from diagnostic_msgs.msg import DiagnosticArray
    latest = {'mode': ''}

    def on_diag(arr: DiagnosticArray) -> None:
        for st in arr.status:
            if st.hardware_id == 'camera_node':
                latest['mode'] = st.message.partition(':')[0]
    ros_node.node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    return latest


@pytest.mark.parametrize('params', [{'modes': ['split', 'teleport']},
                                    {'deadline_ms': 300.0, 'modes': ['split', 'offload']}],
                         ids=['unknown mode', 'deadline without local'])
def test_modes_that_cannot_work_are_one_fatal_line(nodes, wait_for, params):
    proc = nodes.start('camera_node', source='synthetic', num_threads=1, **params)
    assert wait_for(lambda: proc.poll() is not None, timeout_s=60), nodes.logs()
    log = nodes.log('camera_node')
    fatal = [line for line in log.splitlines() if 'FATAL' in line]
    assert proc.returncode == 2 and 'Traceback' not in log, log
    assert len(fatal) == 1 and 'modes' in fatal[0], log


def test_mode_switch_split_local_split_loses_no_frame(nodes, ros_node, diagnostics, wait_for):
    """With a (generous) deadline, so that a frame the reliable keep-last-10 queue
    drops while the edge is busy (its cold first frames on a loaded machine) is
    answered too and the comparison is about the switch: every frame sent has
    exactly one answer, in the mode it was sent in."""
    n_frames = 50
    results = collect_results(ros_node)
    shown = camera_mode(ros_node)
    nodes.start('edge_node', num_threads=1)
    camera = nodes.start('camera_node', source='synthetic', rate_hz=RATE_HZ,
                         max_frames=n_frames, modes=['split', 'local'], deadline_ms=2000.0,
                         num_threads=1)
    assert wait_for(lambda: len(results) >= 10, timeout_s=120, poll=ros_node.spin), nodes.logs()
    # A mode not loaded is refused, and nothing changes.
    refused = set_mode(ros_node, wait_for, 'offload')
    assert not refused.successful and 'not loaded' in refused.reason
    assert set_mode(ros_node, wait_for, 'local').successful
    assert wait_for(lambda: sum(r.mode == 'local' for r in results) >= 10, timeout_s=60,
                    poll=ros_node.spin), nodes.logs()
    assert set_mode(ros_node, wait_for, 'split').successful
    assert wait_for(lambda: len({r.seq for r in results}) >= n_frames
                    and camera_values(diagnostics).get('in_flight') == 0
                    and camera_values(diagnostics).get('frames_sent') == n_frames,
                    timeout_s=120, poll=ros_node.spin), nodes.logs()
    # One second more: a duplicate or a frame past max_frames would show.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        ros_node.spin()

    first: dict[int, Result] = {}
    for r in sorted(results, key=lambda r: r.arrival_ns):
        if r.seq in first:      # only a late edge answer to a frame answered here
            assert first[r.seq].mode == 'fallback' and r.mode == 'split', (r, first[r.seq])
        else:
            first[r.seq] = r
    assert sorted(first) == list(range(n_frames)), nodes.logs()
    # The mode each frame was sent in (a fallback answers a frame sent for split).
    modes = [{'fallback': 'split'}.get(first[s].mode, first[s].mode) for s in sorted(first)]
    # split, then local, then split again: two switches, each between two frames.
    runs = [m for i, m in enumerate(modes) if i == 0 or modes[i - 1] != m]
    assert runs == ['split', 'local', 'split'], modes
    values = camera_values(diagnostics)
    assert values['mode_switches'] == 2 and values['frames_sent'] == n_frames
    assert values['answered_local'] == modes.count('local')
    assert (values['answered_edge'] + values['answered_fallback'] + values['answered_local']
            == n_frames), values
    assert shown['mode'] == 'split'
    assert values['frames_rejected'] == 0
    assert camera.poll() is None
    assert nodes.log('camera_node').count('mode split -> local') == 1
    print(f'mode switch: {values}')


def edge_subscriptions(ros_node) -> set[bytes]:
    """GIDs of the subscriptions of ``/bottleneck`` (the edge's) in the graph."""
    return {bytes(info.endpoint_gid) for info in
            ros_node.node.get_subscriptions_info_by_topic('/bottleneck')}


def test_edge_killed_and_restarted_every_frame_accounted(nodes, ros_node, diagnostics, wait_for,
                                                         tmp_path):
    results = collect_results(ros_node)
    summary_path = tmp_path / 'summary.json'
    monitor = nodes.start('monitor_node', summary_path=str(summary_path), summary_period_s=1.0)
    edge = nodes.start('edge_node', num_threads=1)
    nodes.start('camera_node', source='synthetic', rate_hz=FALLBACK_RATE_HZ,
                deadline_ms=DEADLINE_MS, num_threads=1)
    assert wait_for(lambda: sum(r.mode == 'split' for r in results) >= 10, timeout_s=120,
                    poll=ros_node.spin), nodes.logs()
    first_edge = edge_subscriptions(ros_node)

    killed_ns = kill_edge(edge, results, 20, nodes, ros_node, wait_for)

    nodes.start('edge_node', num_threads=1)
    assert wait_for(lambda: edge_subscriptions(ros_node) - first_edge, timeout_s=120,
                    poll=ros_node.spin), nodes.logs()
    back_ns = time.time_ns()
    assert wait_for(lambda: any(r.mode == 'split' and r.arrival_ns > back_ns for r in results),
                    timeout_s=10, poll=ros_node.spin), nodes.logs()
    assert wait_for(lambda: sum(r.mode == 'split' and r.arrival_ns > back_ns
                                for r in results) >= 10, timeout_s=30,
                    poll=ros_node.spin), nodes.logs()

    # Stop frames (deactivate); what is in flight resolves within the deadline.
    values, sent, dropped = stop_camera(nodes, ros_node, diagnostics, wait_for)
    outcomes = values['answered_edge'] + values['answered_fallback'] + values['answered_local']
    assert values['in_flight'] == 0
    assert outcomes + dropped == sent, values
    assert values['answered_local'] == 0 and values['mode_switches'] == 0

    by_seq: dict[int, list[Result]] = {}
    for r in results:
        by_seq.setdefault(r.seq, []).append(r)
    fallback = {r.seq: r for r in results if r.mode == 'fallback'}
    # The camera published exactly one fallback result per answered_fallback ...
    assert len(fallback) == values['answered_fallback'] == sum(r.mode == 'fallback'
                                                                for r in results)
    # ... every frame sent has a result unless dropped with a reason ...
    assert len(by_seq) == sent - dropped and set(by_seq) <= set(range(sent))
    # ... and frames the edge answered in time are those with no fallback.
    assert sum(1 for s in by_seq if s not in fallback) == values['answered_edge']
    # The fallbacks start the robot's answer time (the lead) before the deadline:
    # the ones that waited for it (the first frame the killed edge left unanswered,
    # the probes of the dead edge) come out around the deadline, not a whole model
    # run after it as they would if the fallback began at the deadline. Bounds in
    # units of the lead the camera measured, so a loaded machine (slower model,
    # larger lead) does not make the check flaky: the median within half a lead of
    # the deadline, the first (which may meet a slower run) within one.
    lead_ms = values['fallback_lead_ms']
    assert 0 < lead_ms <= DEADLINE_MS / 2, values
    answered = max(r.seq for r in results if r.mode == 'split' and r.arrival_ns < killed_ns)
    first = min((r for r in fallback.values() if r.seq > answered), key=lambda r: r.seq)
    took_ms = (first.arrival_ns - first.stamp_ns) / 1e6
    assert took_ms <= DEADLINE_MS + lead_ms, (took_ms, lead_ms, nodes.logs())
    waited_ms = sorted(ms for r in fallback.values()
                       if (ms := (r.arrival_ns - r.stamp_ns) / 1e6) > DEADLINE_MS / 2)
    median_ms = waited_ms[len(waited_ms) // 2]
    assert median_ms <= DEADLINE_MS + LATE_MS + lead_ms / 2, (waited_ms, lead_ms, nodes.logs())
    # Split resumed within 5 s of the edge's return.
    resumed = min(r.arrival_ns for r in results if r.mode == 'split' and r.arrival_ns > back_ns)
    assert (resumed - back_ns) / 1e9 <= 5.0
    assert values['edge_lost'] >= 1
    # The monitor shows the camera's account: in /diagnostics, its log, its summary.
    shown = diagnostics['monitor_node']
    assert all(shown[f'camera_{k}'] == str(values[k]) for k in
               ('answered_edge', 'answered_fallback', 'dropped_stale', 'in_flight')), shown
    monitor.send_signal(signal.SIGINT)
    assert wait_for(lambda: monitor.poll() is not None, timeout_s=30), nodes.logs()
    account = json.loads(summary_path.read_text())['camera_account']
    assert account['answered_fallback'] == values['answered_fallback'], account
    assert f'{values["answered_fallback"]} fallback' in nodes.log('monitor_node')
    print(f'first fallback {took_ms:.0f} ms after capture; of {len(waited_ms)} that waited '
          f'for the deadline, median {median_ms:.0f} ms, slowest {waited_ms[-1]:.0f} ms '
          f'(deadline {DEADLINE_MS:g} ms, lead {values["fallback_lead_ms"]} ms); split resumed '
          f'{(resumed - back_ns) / 1e9:.2f} s after the edge returned; {values}')


def test_adaptive_policy_tries_every_mode_and_leaves_a_killed_edge(nodes, ros_node, diagnostics,
                                                                   wait_for):
    """adaptive: true on real frames: every loaded mode is observed (probes), a
    killed edge's modes are not used (only its liveness probes, which fall back),
    and the edge is used again once it is back. Which mode wins depends on this
    machine: not asserted."""
    results = collect_results(ros_node)
    shown = camera_mode(ros_node)
    edge = nodes.start('edge_node', num_threads=1)
    nodes.start('camera_node', source='synthetic', rate_hz=FALLBACK_RATE_HZ,
                deadline_ms=DEADLINE_MS, modes=['split', 'local', 'offload'], adaptive=True,
                adaptive_probe_every=10, num_threads=1)
    assert wait_for(lambda: {r.mode for r in results} >= {'split', 'local', 'offload'},
                    timeout_s=120, poll=ros_node.spin), nodes.logs()
    assert wait_for(lambda: camera_values(diagnostics).get('adaptive_probes', 0) >= 2,
                    timeout_s=10, poll=ros_node.spin), nodes.logs()
    # What the policy predicts per mode is in /diagnostics once every mode has been
    # observed (the next diagnostics message after the results seen here: the one
    # received so far may predate the last mode's first result).
    modes = ('split', 'local', 'offload')

    def predicted() -> bool:
        shown_values = diagnostics['camera_node']
        return all(float(shown_values.get(f'adaptive_predicted_ms_{m}', 'nan')) > 0
                   for m in modes)
    assert wait_for(predicted, timeout_s=10, poll=ros_node.spin), diagnostics['camera_node']
    shown_values = diagnostics['camera_node']
    for m in modes:
        assert 0.0 <= float(shown_values[f'adaptive_miss_rate_{m}']) <= 1.0, shown_values
    first_edge = edge_subscriptions(ros_node)

    edge.kill()
    edge.wait()
    # (local may have won already on this machine; if not, the policy leaves
    # the edge modes with reason no_edge)
    assert wait_for(lambda: diagnostics['camera_node'].get('edge_alive') == '0'
                    and shown['mode'] == 'local', timeout_s=30, poll=ros_node.spin), nodes.logs()
    left_ns = time.time_ns()
    assert wait_for(lambda: sum(r.arrival_ns > left_ns for r in results) >= 10, timeout_s=30,
                    poll=ros_node.spin), nodes.logs()
    after = {r.mode for r in results if r.arrival_ns > left_ns}
    assert after <= {'local', 'fallback'}, after     # probes of the dead edge fell back
    assert shown['mode'] == 'local'

    nodes.start('edge_node', num_threads=1)
    assert wait_for(lambda: edge_subscriptions(ros_node) - first_edge, timeout_s=120,
                    poll=ros_node.spin), nodes.logs()
    back_ns = time.time_ns()
    assert wait_for(lambda: any(r.mode in ('split', 'offload') and r.arrival_ns > back_ns
                                for r in results), timeout_s=10, poll=ros_node.spin), nodes.logs()


def compressed_stamps(ros_node) -> list[int]:
    """Capture stamps of the frames sent on ``image_raw/compressed`` (offload), as
    they arrive in this process (reliable, like the edge's subscription)."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage
    stamps: list[int] = []
    ros_node.node.create_subscription(
        CompressedImage, 'image_raw/compressed',
        lambda msg: stamps.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec),
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    return stamps


def test_adaptive_decisions_on_recorded_frames(nodes, ros_node, diagnostics, wait_for,
                                               tmp_path):
    """The policy through the node, on the sample photos (a folder source), with
    conditions it must react to: the edge killed while the camera is in split
    (within the first min_dwell_frames, so no switch can have happened yet) ->
    local, reason no_edge; the edge back -> the unobserved offload is probed
    once, and its JPEG's bit rate at rate_hz is over adaptive_bandwidth_cap_bps,
    so offload is never used again, while split is (probes every 10 frames).
    Asserted on the camera's /diagnostics and log, the frames on the wire and the
    monitor's mode per result."""
    from bottlefit_ros.framelog import read_frame_log

    csv_path = tmp_path / 'frames.csv'
    results = collect_results(ros_node)
    jpegs = compressed_stamps(ros_node)
    shown = camera_mode(ros_node)
    monitor = nodes.start('monitor_node', csv_path=str(csv_path), summary_period_s=1.0)
    edge = nodes.start('edge_node', num_threads=1)
    # Split sends ~5.6 kB a frame (224 kbit/s at 5 Hz), offload a ~24 kB JPEG
    # (~950 kbit/s): a 500 kbit/s cap leaves split and excludes offload once seen.
    nodes.start('camera_node', source='folder', rate_hz=FALLBACK_RATE_HZ,
                deadline_ms=DEADLINE_MS, modes=['split', 'local', 'offload'], adaptive=True,
                adaptive_probe_every=10, adaptive_bandwidth_cap_bps=500_000.0, num_threads=1)
    assert wait_for(lambda: any(r.mode == 'split' for r in results), timeout_s=120,
                    poll=ros_node.spin), nodes.logs()
    first_edge = edge_subscriptions(ros_node)
    # SIGKILL at the first result: three missed deadlines (edge_lost_after) come
    # before frame 10, the first frame at which the policy may probe or switch.
    edge.kill()
    edge.wait()
    killed_ns = time.time_ns()
    assert wait_for(lambda: 'adaptive: no_edge' in nodes.log('camera_node')
                    and shown['mode'] == 'local', timeout_s=30, poll=ros_node.spin), nodes.logs()
    assert 'mode split -> local' in nodes.log('camera_node')
    assert not jpegs            # offload not probed yet (the first probe was due at frame 10)

    nodes.start('edge_node', num_threads=1)
    assert wait_for(lambda: edge_subscriptions(ros_node) - first_edge, timeout_s=120,
                    poll=ros_node.spin), nodes.logs()
    back_ns = time.time_ns()
    # The probe of offload, then split again (a probe every 10 frames, or a switch).
    assert wait_for(lambda: len(jpegs) >= 1 and sum(
        r.mode == 'split' and r.arrival_ns > back_ns for r in results) >= 2, timeout_s=30,
                    poll=ros_node.spin), nodes.logs()
    probed_ns = time.monotonic_ns()
    # Twenty frames more (two probe periods): offload stays excluded by the cap.
    seen = len({r.seq for r in results})
    assert wait_for(lambda: len({r.seq for r in results}) >= seen + 20, timeout_s=30,
                    poll=ros_node.spin), nodes.logs()
    values = camera_values(diagnostics)
    assert len(jpegs) == 1, (len(jpegs), values)
    assert values['adaptive_probes'] >= 2 and values['mode_switches'] >= 1, values
    assert values['edge_lost'] >= 1 and values['edge_alive'] == 1, values
    assert shown['mode'] in ('split', 'local')          # which wins is this machine's
    assert (time.monotonic_ns() - probed_ns) / 1e9 >= 2.0

    monitor.send_signal(signal.SIGINT)
    assert wait_for(lambda: monitor.poll() is not None, timeout_s=30), nodes.logs()
    records = read_frame_log(csv_path)
    before = {r.mode for r in records if r.arrival_ns < killed_ns}
    assert before == {'split'}, before
    # After the edge died and before it was back: the robot answered (local, and
    # the liveness probes' fallbacks); after: offload at most once (the probe,
    # unless it fell back), split again.
    while_dead = {r.mode for r in records if killed_ns + 2e9 < r.arrival_ns < back_ns}
    assert while_dead and while_dead <= {'local', 'fallback'}, while_dead
    after = [r.mode for r in records if r.arrival_ns > back_ns]
    assert after.count('offload') <= 1 and 'split' in after, after
    print(f'adaptive on recorded frames: {values}; modes after the edge returned: '
          f'{ {m: after.count(m) for m in set(after)} }')


def test_offload_with_fallback_edge_killed_every_frame_measured_none_lost(
        nodes, ros_node, diagnostics, wait_for, tmp_path):
    from bottlefit_ros.framelog import read_frame_log
    results = collect_results(ros_node)
    summary_path, csv_path = tmp_path / 'summary.json', tmp_path / 'frames.csv'
    monitor = nodes.start('monitor_node', summary_path=str(summary_path), csv_path=str(csv_path),
                          summary_period_s=0.5)
    edge = nodes.start('edge_node', num_threads=1)
    nodes.start('camera_node', source='synthetic', rate_hz=FALLBACK_RATE_HZ, mode='offload',
                modes=['offload', 'local'], deadline_ms=DEADLINE_MS, num_threads=1)
    assert wait_for(lambda: sum(r.mode == 'offload' for r in results) >= 10, timeout_s=120,
                    poll=ros_node.spin), nodes.logs()
    killed_ns = kill_edge(edge, results, 10, nodes, ros_node, wait_for)
    # Back: its numbers (JPEGs sent) now lag the camera's (frames sent).
    nodes.start('edge_node', num_threads=1)
    back_ns = time.time_ns()
    assert wait_for(lambda: sum(r.mode == 'offload' and r.arrival_ns > back_ns
                                for r in results) >= 10, timeout_s=120,
                    poll=ros_node.spin), nodes.logs()

    values, sent, dropped = stop_camera(nodes, ros_node, diagnostics, wait_for)
    frames = {r.stamp_ns for r in results}
    assert len(frames) == sent - dropped, (len(frames), values)
    # The numberings did collide: an offload result after the edge returned
    # carries a number below a fallback result's before it.
    fallback_seq = max(r.seq for r in results if r.mode == 'fallback')
    assert any(r.seq < fallback_seq for r in results if r.mode == 'offload'
               and r.arrival_ns > back_ns)

    # DDS sends a result to each reader in turn: one the edge wrote as it was
    # SIGKILLed can reach the camera (which then counts its frame answered) and
    # this test, and not the monitor, which then counts that frame lost. Every
    # other frame is measured.
    def settled() -> bool:
        shown = diagnostics.get('monitor_node', {})
        return shown.get('camera_frames_sent') == str(sent) and any(
            shown.get('results') == str(len(frames) - k)
            and shown.get('frames_lost') == str(dropped + k) for k in (0, 1))
    assert wait_for(settled, timeout_s=15, poll=ros_node.spin), (
        sent, len(frames), dropped, sorted(diagnostics.get('monitor_node', {}).items()),
        values, nodes.log('monitor_node')[-3000:])
    shown = diagnostics['monitor_node']
    # A second result for a frame (an edge's late one) is a duplicate, not measured;
    # one the edge published as it was killed may reach this test and not the monitor.
    assert int(shown['results_duplicate']) <= len(results) - len(frames), shown
    assert shown['results_seq_jump'] == shown['results_seq_stale'] == '0', shown
    monitor.send_signal(signal.SIGINT)
    assert wait_for(lambda: monitor.poll() is not None, timeout_s=30), nodes.logs()
    unmeasured = frames - {r.stamp_ns for r in read_frame_log(csv_path)}
    missed_at_kill = [(r.mode, (r.arrival_ns - killed_ns) / 1e9) for r in results
                      if r.stamp_ns in unmeasured]
    assert len(unmeasured) <= 1 and all(
        mode == 'offload' and -2.0 < after_kill_s < 1.0 for mode, after_kill_s in missed_at_kill
    ), missed_at_kill
    summary = json.loads(summary_path.read_text())
    assert summary['frames_delivered'] == len(frames) - len(unmeasured)
    assert summary['frames_lost'] == dropped + len(unmeasured)
    print(f'mixed modes: camera {values}; results {len(results)} for {len(frames)} frames; '
          f'monitor measured {summary["frames_delivered"]}, lost {summary["frames_lost"]}; '
          f'the edge\'s results at its kill the monitor did not get: {missed_at_kill}')
