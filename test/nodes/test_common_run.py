"""``run()``: what ends a node, with which exit code and which log line. The
node classes here are minimal; the real executables are tested in
test_common_shutdown.py."""
from __future__ import annotations

import os
import signal

import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from rclpy.node import Node  # noqa: E402

from bottlefit_ros.nodes._common import Param, declare, run  # noqa: E402

PARAMS = (Param('rate_hz', 10.0, 'a rate', min=0.1, max=100.0),
          Param('mode', 'a', 'a choice', choices=('a', 'b')))


class Probe(Node):
    """Declares PARAMS, then does what the test asks from a timer callback."""

    def __init__(self, action=None, name: str = 'probe_node') -> None:
        super().__init__(name)
        self.values = declare(self, PARAMS)
        self.action = action
        self.closed_while_ok: bool | None = None
        self.create_timer(0.01, self._tick)

    def _tick(self) -> None:
        if self.action is not None:
            action, self.action = self.action, None
            action(self)

    def close(self) -> None:
        self.closed_while_ok = rclpy.ok()
        self.get_logger().info('closing')


def run_probe(capfd, *, args=(), **kwargs) -> tuple[int, str, list[Probe]]:
    built: list[Probe] = []

    def factory() -> Probe:
        built.append(Probe(**kwargs))
        return built[-1]
    code = run(factory, ['probe', '--ros-args', *args], exit_process=False)
    out, err = capfd.readouterr()
    return code, out + err, built


@pytest.mark.parametrize('override', ['rate_hz:=-1.0', 'rate_hz:=5', 'mode:=c'],
                         ids=['out of rclpy range', 'wrong type', 'not a choice'])
def test_bad_parameter_is_one_fatal_line_under_the_node_name(capfd, domain_id, override):
    code, output, built = run_probe(capfd, args=('-p', override, '-r', '__node:=front_cam'))
    assert code == 2
    assert not built   # the constructor raised
    fatal = [line for line in output.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1, output
    assert '[front_cam]' in fatal[0] and 'configuration error' in fatal[0]
    assert override.partition(':=')[0] in fatal[0]
    assert 'Traceback' not in output


def test_error_in_a_callback_is_not_a_configuration_error(capfd, domain_id):
    def fail(node):
        raise ValueError('bug in a callback')
    code, output, built = run_probe(capfd, action=fail)
    assert code == 1
    assert 'configuration error' not in output
    assert 'bug in a callback' in output and 'Traceback' in output
    assert built[0].closed_while_ok is True


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_stops_spinning_and_closes_while_ros_still_works(capfd, domain_id, signum):
    def signal_twice(node):   # the second arrives while the first is being handled
        os.kill(os.getpid(), signum)
        os.kill(os.getpid(), signum)
    previous = signal.getsignal(signum)
    code, output, built = run_probe(capfd, action=signal_twice)
    assert code == 0
    assert built[0].closed_while_ok is True
    assert 'closing' in output
    assert 'Traceback' not in output and 'Failed to publish log message' not in output
    assert signal.getsignal(signum) is previous


def test_system_exit_from_a_callback_ends_with_its_code(capfd, domain_id):
    def leave(node):
        raise SystemExit(3)
    code, output, built = run_probe(capfd, action=leave)
    assert code == 3
    assert built[0].closed_while_ok is True
