"""Camera parameters: out-of-range values end the node with one FATAL line
(exit 2, under its name, no traceback); ``rate_hz`` changes apply at run time
without post-set callbacks (absent on Humble) and are refused with
``source: topic``; ``qos_overrides`` may change durability; the adaptive
policy's energy objective gets the robot's power profile."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.mark.parametrize('params', [{'rate_hz': -1.0}, {'jpeg_quality': 500},
                                    {'rate_hz': 5}, {'source': 'nowhere'},
                                    {'adaptive_objective': 'speed'},
                                    {'power_profile': 'toaster', 'adaptive': True,
                                     'deadline_ms': 300.0, 'adaptive_objective': 'energy'}],
                         ids=['rate_hz out of range', 'jpeg_quality out of range',
                              'rate_hz not a double', 'unknown source',
                              'unknown adaptive_objective', 'unknown power_profile'])
def test_bad_parameter_is_one_fatal_line(nodes, wait_for, params):
    proc = nodes.start('camera_node', **params)
    assert wait_for(lambda: proc.poll() is not None, timeout_s=60), nodes.logs()
    log = nodes.log('camera_node')
    assert proc.returncode == 2, log
    assert 'Traceback' not in log, log
    fatal = [line for line in log.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1 and '[camera_node]' in fatal[0], log
    assert next(iter(params)) in fatal[0], log


def start_without_post_set_callbacks(nodes, **params) -> subprocess.Popen:
    """The camera under an rclpy whose Node has no ``add_post_set_parameters_callback``,
    as on Humble."""
    from bottlefit_ros.deployment import NodeSpec
    from bottlefit_ros.launcher import node_command
    code = ('import sys, rclpy.node\n'
            'del rclpy.node.Node.add_post_set_parameters_callback\n'
            'from bottlefit_ros.nodes.camera_node import main\n'
            'sys.exit(main())\n')
    ros_args = node_command(NodeSpec('camera_node'), params_file=nodes.params_file,
                            extra=params)[1:]
    with (nodes.log_dir / 'camera_node.log').open('w') as log:
        proc = subprocess.Popen([sys.executable, '-P', '-c', code, *ros_args], stdout=log,
                                stderr=subprocess.STDOUT)
    nodes.procs['camera_node'] = proc
    return proc


def set_rate(ros_node, wait_for, rate_hz: float):
    """Set the camera's ``rate_hz`` through its parameter service; the result."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    client = ros_node.node.create_client(SetParameters, '/camera_node/set_parameters')
    assert wait_for(client.service_is_ready, timeout_s=90, poll=ros_node.spin)
    request = SetParameters.Request(parameters=[Parameter(
        name='rate_hz', value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                             double_value=rate_hz))])
    future = client.call_async(request)
    assert wait_for(future.done, timeout_s=30, poll=ros_node.spin)
    return future.result().results[0]


def test_rate_change_applies_without_post_set_callbacks(nodes, ros_node, wait_for):
    from bottlefit_ros.msg import Bottleneck
    from bottlefit_ros.nodes._common import FRAME_QOS
    frames: list[int] = []
    ros_node.node.create_subscription(Bottleneck, 'bottleneck', lambda m: frames.append(m.seq),
                                      FRAME_QOS)
    camera = start_without_post_set_callbacks(nodes, source='synthetic', rate_hz=0.1,
                                              start_when_subscribed=False, num_threads=1)
    result = set_rate(ros_node, wait_for, 20.0)
    assert result.successful, result.reason
    # At the old 0.1 Hz ten frames take 100 s.
    assert wait_for(lambda: len(frames) >= 10, timeout_s=40, poll=ros_node.spin), nodes.logs()
    assert camera.poll() is None


def test_rate_change_refused_with_topic_source(nodes, ros_node, wait_for):
    camera = start_without_post_set_callbacks(nodes, source='topic', num_threads=1)
    result = set_rate(ros_node, wait_for, 20.0)
    assert not result.successful
    assert 'topic' in result.reason and 'rate' in result.reason
    assert camera.poll() is None


@pytest.mark.parametrize('mode,topic,endpoint,durability', [
    ('local', '/classification', 'publisher', 'volatile'),
    ('split', '/bottleneck', 'publisher', 'transient_local'),
    ('split', '/image_raw', 'subscription', 'transient_local'),
])
def test_qos_overrides_change_durability(nodes, ros_node, wait_for, mode, topic, endpoint,
                                         durability):
    from rclpy.qos import DurabilityPolicy
    nodes.start('camera_node', mode=mode, source='topic', num_threads=1, **{
        f'qos_overrides.{topic}.{endpoint}.durability': durability,
        f'qos_overrides.{topic}.{endpoint}.reliability': 'reliable'})
    node = ros_node.node
    infos = (node.get_publishers_info_by_topic if endpoint == 'publisher'
             else node.get_subscriptions_info_by_topic)
    assert wait_for(lambda: infos(topic), timeout_s=90, poll=ros_node.spin), nodes.logs()
    assert infos(topic)[0].qos_profile.durability == DurabilityPolicy[durability.upper()]


def test_energy_objective_uses_the_robot_power_profile(nodes, wait_for):
    """adaptive_objective energy: the policy gets the named power profile (the
    one the monitor's estimate would use) and the camera serves."""
    camera = nodes.start('camera_node', source='synthetic', num_threads=1, adaptive=True,
                         deadline_ms=300.0, modes=['split', 'local'],
                         adaptive_objective='energy', power_profile='raspberry_pi_4')
    assert wait_for(lambda: 'active' in nodes.log('camera_node') or camera.poll() is not None,
                    timeout_s=90), nodes.logs()
    log = nodes.log('camera_node')
    assert camera.poll() is None, log
    assert 'adaptive, objective energy, power profile raspberry_pi_4' in log, log
