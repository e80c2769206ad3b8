"""Camera and edge as managed (lifecycle) nodes, driven from another process
through the standard ``lifecycle_msgs`` services as a lifecycle manager does
(nav2_lifecycle_manager, ``ros2 lifecycle set``): nothing flows before
activation, frames stop on deactivate and resume on activate, frames reaching
an inactive node are counted as ``dropped_inactive``, cleanup and shutdown
work, and a bad parameter fails the configure transition without ending the
node."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

rclpy = pytest.importorskip('rclpy')
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402

SERVICE_TIMEOUT_S = 90   # the node process imports torch and rclpy first


class Managed:
    """One managed node seen through its lifecycle services."""

    def __init__(self, ros_node, wait_for, name: str) -> None:
        self.ros_node, self.wait_for, self.name = ros_node, wait_for, name
        self.change = ros_node.node.create_client(ChangeState, f'/{name}/change_state')
        self.get = ros_node.node.create_client(GetState, f'/{name}/get_state')
        assert wait_for(lambda: self.change.service_is_ready() and self.get.service_is_ready(),
                        timeout_s=SERVICE_TIMEOUT_S, poll=ros_node.spin), name
        # service_is_ready() reads the graph: the client's request writer may not
        # have matched the server yet, and a request sent now can be lost. A
        # transition that does not exist changes nothing; once it is answered,
        # both directions of change_state are matched.
        probe = ChangeState.Request()
        probe.transition.label = 'no_such_transition'
        assert not self._call(self.change, probe, retry=True).success

    def _call(self, client, request, *, retry: bool = False):
        """The response; with ``retry`` (requests that change nothing), sent again
        while unanswered, as a lost request would be."""
        deadline = time.monotonic() + SERVICE_TIMEOUT_S
        while True:
            future = client.call_async(request)
            # configure loads a model: allow for a slow, loaded machine
            if self.wait_for(future.done, timeout_s=2.0 if retry else 120,
                             poll=self.ros_node.spin):
                return future.result()
            client.remove_pending_request(future)
            assert retry and time.monotonic() < deadline, f'{self.name}: no answer'

    def transition(self, transition_id: int) -> bool:
        """Whether the transition succeeded (the ``ChangeState`` answer)."""
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self._call(self.change, request).success

    @property
    def state(self) -> str:
        return self._call(self.get, GetState.Request(), retry=True).current_state.label


class Diagnostics:
    """The latest /diagnostics message and counters of each node, by name."""

    def __init__(self, ros_node) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        self.message: dict[str, str] = {}
        self.values: dict[str, dict[str, int]] = {}
        self.updates: dict[str, int] = {}

        def on_diag(arr: DiagnosticArray) -> None:
            for st in arr.status:
                self.message[st.hardware_id] = st.message
                self.values[st.hardware_id] = {kv.key: int(kv.value) for kv in st.values
                                               if kv.value.lstrip('-').isdigit()}
                self.updates[st.hardware_id] = self.updates.get(st.hardware_id, 0) + 1
        ros_node.node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)

    def get(self, node: str, key: str) -> int:
        return self.values.get(node, {}).get(key, 0)


def spin_for(ros_node, seconds: float) -> None:
    """Spin for ``seconds`` (a window in which nothing may happen, not a sync)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ros_node.spin()


def test_manager_brings_the_pipeline_up_pauses_resumes_and_takes_it_down(nodes, ros_node,
                                                                          wait_for):
    from bottlefit_ros.msg import Classification
    from bottlefit_ros.nodes._common import RESULT_QOS
    results: list[int] = []
    ros_node.node.create_subscription(Classification, 'classification',
                                      lambda m: results.append(m.seq), RESULT_QOS)
    diag = Diagnostics(ros_node)
    # Every frame is to be answered even when a loaded test machine makes the edge
    # slower than 10 Hz for a while: a queue deeper than its default of one.
    edge_proc = nodes.start('edge_node', autostart=False, num_threads=1,
                            diagnostics_period_s=0.2,
                            **{'qos_overrides./bottleneck.subscription.depth': 10})
    camera_proc = nodes.start('camera_node', autostart=False, source='folder', rate_hz=10.0,
                              num_threads=1, diagnostics_period_s=0.2)
    edge = Managed(ros_node, wait_for, 'edge_node')
    camera = Managed(ros_node, wait_for, 'camera_node')
    assert (edge.state, camera.state) == ('unconfigured', 'unconfigured')

    # Bring up the way a manager does: configure both, activate edge, then camera.
    assert edge.transition(Transition.TRANSITION_CONFIGURE), nodes.logs()
    assert camera.transition(Transition.TRANSITION_CONFIGURE), nodes.logs()
    assert (edge.state, camera.state) == ('inactive', 'inactive')
    assert edge.transition(Transition.TRANSITION_ACTIVATE), nodes.logs()
    # configured but inactive: its diagnostics run, no frame has been read
    assert wait_for(lambda: 'camera_node' in diag.values, timeout_s=30, poll=ros_node.spin)
    assert 'inactive' in diag.message['camera_node']
    assert diag.get('camera_node', 'frames_in') == 0 and not results
    assert camera.transition(Transition.TRANSITION_ACTIVATE), nodes.logs()
    assert camera.state == 'active'
    assert wait_for(lambda: len(results) >= 3, timeout_s=60, poll=ros_node.spin), nodes.logs()

    # Deactivate the camera: its timer stops, every frame it sent is answered, no more come.
    assert camera.transition(Transition.TRANSITION_DEACTIVATE), nodes.logs()
    assert camera.state == 'inactive'
    assert wait_for(lambda: 'inactive' in diag.message.get('camera_node', ''), timeout_s=10,
                    poll=ros_node.spin)
    sent = diag.get('camera_node', 'frames_sent')
    assert wait_for(lambda: len(results) == sent, timeout_s=30, poll=ros_node.spin), (
        sent, results, nodes.logs())
    spin_for(ros_node, 1.5)   # 15 periods at 10 Hz
    assert len(results) == sent and diag.get('camera_node', 'frames_sent') == sent

    # Activate again: frames resume, numbered on.
    assert camera.transition(Transition.TRANSITION_ACTIVATE), nodes.logs()
    assert wait_for(lambda: len(results) >= sent + 3, timeout_s=60, poll=ros_node.spin), (
        nodes.logs())
    assert results == list(range(len(results)))

    # Deactivate the edge while the camera sends: frames are dropped, counted, not served.
    assert edge.transition(Transition.TRANSITION_DEACTIVATE), nodes.logs()
    assert wait_for(lambda: diag.get('edge_node', 'dropped_inactive') >= 3, timeout_s=30,
                    poll=ros_node.spin), nodes.logs()
    served = diag.get('edge_node', 'frames_served')
    assert wait_for(lambda: diag.get('edge_node', 'dropped_inactive') >= 6, timeout_s=30,
                    poll=ros_node.spin), nodes.logs()
    e = diag.values['edge_node']
    assert e['frames_served'] == served and e['frames_missed'] == 0, e
    assert e['frames_in'] == e['frames_served'], e
    # Activate it again: it serves on; the frames it dropped are not counted as missed.
    assert edge.transition(Transition.TRANSITION_ACTIVATE), nodes.logs()
    assert wait_for(lambda: diag.get('edge_node', 'frames_served') >= served + 3, timeout_s=60,
                    poll=ros_node.spin), nodes.logs()
    assert diag.get('edge_node', 'frames_missed') == 0, diag.values['edge_node']
    for node in (camera, edge):
        assert node.transition(Transition.TRANSITION_DEACTIVATE), nodes.logs()

    # Take it down: cleanup (model and source released), then shutdown; the
    # processes keep running until a signal, as managed nodes do.
    for node in (camera, edge):
        assert node.transition(Transition.TRANSITION_CLEANUP), nodes.logs()
        assert node.state == 'unconfigured'
    assert not camera.transition(Transition.TRANSITION_ACTIVATE)   # not from unconfigured
    for node in (camera, edge):
        assert node.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN), nodes.logs()
        assert node.state == 'finalized'
    assert edge_proc.poll() is None and camera_proc.poll() is None
    nodes.stop()
    assert (edge_proc.returncode, camera_proc.returncode) == (0, 0), nodes.logs()
    assert 'Traceback' not in nodes.logs(tail_chars=10**6)


@pytest.mark.parametrize('executable, params, named', [
    ('edge_node', {'model': 'no_such_model'}, 'no_such_model'),
    ('camera_node', {'source': 'nowhere'}, 'nowhere'),
    ('camera_node', {'jpeg_quality': 500}, 'jpeg_quality'),
    ('camera_node', {'rate_hz': 5}, 'rate_hz'),
], ids=['unknown model', 'unknown source', 'out of range', 'wrong type'])
def test_bad_parameter_under_a_manager_fails_configure_and_the_node_stays(
        nodes, ros_node, wait_for, executable, params, named):
    proc = nodes.start(executable, autostart=False, num_threads=1, **params)
    node = Managed(ros_node, wait_for, executable)
    assert node.state == 'unconfigured'
    assert not node.transition(Transition.TRANSITION_CONFIGURE)
    assert node.state == 'unconfigured'
    assert proc.poll() is None, nodes.logs()
    assert not node.transition(Transition.TRANSITION_CONFIGURE)   # asked again: same answer
    assert proc.poll() is None
    log = nodes.log(executable)
    errors = [line for line in log.splitlines() if 'configuration error' in line]
    assert len(errors) == 2 and all('ERROR' in line and named in line for line in errors), log
    assert f'[{executable}]' in errors[0], log
    assert 'FATAL' not in log and 'Traceback' not in log, log


def test_configuration_error_with_autostart_is_one_fatal_line_and_exit_2(nodes, wait_for):
    proc = nodes.start('edge_node', model='no_such_model', num_threads=1)
    assert wait_for(lambda: proc.poll() is not None, timeout_s=60), nodes.logs()
    log = nodes.log('edge_node')
    assert proc.returncode == 2, log
    lines = [line for line in log.splitlines() if 'no_such_model' in line]
    assert len(lines) == 1 and lines[0].startswith('[FATAL]') and '[edge_node]' in lines[0], log
    assert 'Traceback' not in log, log


def test_images_reaching_an_inactive_camera_are_dropped_and_counted(nodes, ros_node,
                                                                      wait_for):
    from bottlefit_ros.conversions import rgb_to_image
    from bottlefit_ros.msg import Bottleneck
    from bottlefit_ros.nodes._common import FRAME_QOS
    from sensor_msgs.msg import Image
    frames: list[int] = []
    ros_node.node.create_subscription(Bottleneck, 'bottleneck', lambda m: frames.append(m.seq),
                                      FRAME_QOS)
    pub = ros_node.node.create_publisher(Image, 'image_raw', 10)
    diag = Diagnostics(ros_node)
    nodes.start('camera_node', autostart=False, source='topic', num_threads=1,
                diagnostics_period_s=0.1)
    camera = Managed(ros_node, wait_for, 'camera_node')
    assert camera.transition(Transition.TRANSITION_CONFIGURE), nodes.logs()
    assert wait_for(lambda: pub.get_subscription_count() > 0 and 'camera_node' in diag.values,
                    timeout_s=30, poll=ros_node.spin)
    image = rgb_to_image(np.zeros((24, 32, 3), np.uint8), ros_node.node.get_clock().now()
                         .to_msg(), 'cam')

    def send_until(predicate) -> bool:
        """Send images (best effort: some may be lost) until ``predicate`` holds."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pub.publish(image)
            if wait_for(predicate, timeout_s=0.5, poll=ros_node.spin):
                return True
        return False
    assert send_until(lambda: diag.get('camera_node', 'dropped_inactive') >= 3), nodes.logs()
    assert diag.get('camera_node', 'frames_in') == 0 and not frames
    assert camera.transition(Transition.TRANSITION_ACTIVATE), nodes.logs()
    assert send_until(lambda: len(frames) >= 3), nodes.logs()
    c = diag.values['camera_node']
    assert c['frames_in'] == c['frames_sent'] + c['frames_rejected'], c


@pytest.mark.parametrize('mode, autostart', [('local', True), ('split', False)],
                         ids=['local mode, autostart', 'split mode, under a manager'])
def test_start_gate_needs_no_fixed_delay_where_a_match_is_enough(nodes, ros_node, wait_for,
                                                                 mode, autostart):
    """Frames flow once the output matched a subscriber: in local mode (the
    camera publishes the results itself) and under a manager (activation is the
    gate), ``start_delay_s`` is not waited for."""
    from bottlefit_ros.msg import Bottleneck, Classification
    from bottlefit_ros.nodes._common import FRAME_QOS, RESULT_QOS
    frames: list[int] = []
    msg_type, topic, qos = ((Classification, 'classification', RESULT_QOS) if mode == 'local'
                            else (Bottleneck, 'bottleneck', FRAME_QOS))
    ros_node.node.create_subscription(msg_type, topic, lambda m: frames.append(m.seq), qos)
    nodes.start('camera_node', mode=mode, autostart=autostart, source='synthetic',
                rate_hz=10.0, start_when_subscribed=True, start_delay_s=60.0, num_threads=1)
    if not autostart:
        camera = Managed(ros_node, wait_for, 'camera_node')
        assert camera.transition(Transition.TRANSITION_CONFIGURE), nodes.logs()
        assert camera.transition(Transition.TRANSITION_ACTIVATE), nodes.logs()
    # well before the 60 s delay; the process starts in a few seconds
    assert wait_for(lambda: len(frames) >= 3, timeout_s=40, poll=ros_node.spin), nodes.logs()
    assert frames[:3] == [0, 1, 2]
