"""The robot without PyTorch: camera and monitor nodes on the venv of
requirements-robot.txt (which has no torch), ``backend: onnxruntime``, against an
edge on PyTorch: every frame answered, and no PyTorch library ever loaded."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytest.importorskip('bottlefit_ros.msg', reason='needs the colcon-built package (`make test`)')

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROBOT_PYTHON = Path(os.environ.get('BOTTLEFIT_ROBOT_VENV') or
                    Path.home() / '.cache' / 'bottlefit_ros' / 'robot-venv') / 'bin' / 'python'
FRAMES = 4


@pytest.fixture(scope='module')
def robot_python() -> str:
    if not ROBOT_PYTHON.is_file():
        if os.environ.get('BOTTLEFIT_REQUIRE_ROS') == '1':      # `make test`
            pytest.fail(f'no robot venv at {ROBOT_PYTHON}: tools/setup.sh makes it')
        pytest.skip(f'no robot venv at {ROBOT_PYTHON} (tools/setup.sh makes it)')
    probe = subprocess.run([str(ROBOT_PYTHON), '-c', 'import torch'], capture_output=True)
    assert probe.returncode != 0, 'the robot venv has PyTorch'
    return str(ROBOT_PYTHON)


def _libraries(pid: int) -> set[str]:
    maps = Path(f'/proc/{pid}/maps').read_text().splitlines()
    return {Path(line.split()[-1]).name for line in maps if '/' in line}


@pytest.mark.parametrize('mode', ['split', 'local', 'offload'])
def test_robot_nodes_run_without_torch(mode, robot_python, nodes, tmp_path, wait_for):
    summary = tmp_path / 'summary.json'
    if mode != 'local':
        nodes.start('edge_node', num_threads=1)                 # the edge keeps PyTorch
    monitor = nodes.start('monitor_node', python=robot_python, max_frames=FRAMES,
                          summary_path=str(summary))
    camera = nodes.start('camera_node', python=robot_python, mode=mode, source='folder',
                         max_frames=FRAMES, rate_hz=5.0, backend='onnxruntime', num_threads=1)
    # Look while both still run: nothing of PyTorch may be mapped into them.
    assert wait_for(lambda: 'frames from' in nodes.log('camera_node')
                    or camera.poll() is not None, 120), nodes.logs()
    for name, proc in (('camera_node', camera), ('monitor_node', monitor)):
        assert proc.poll() is None, f'{name} exited\n' + nodes.logs()
        torch_libs = {lib for lib in _libraries(proc.pid) if 'torch' in lib}
        assert not torch_libs, f'{name} loaded {sorted(torch_libs)}'
    assert wait_for(lambda: monitor.poll() is not None, 180), nodes.logs()
    assert monitor.returncode == 0, nodes.logs()
    result = json.loads(summary.read_text())
    assert result['frames_delivered'] == FRAMES, nodes.logs()
    assert 'onnxruntime' in nodes.log('camera_node'), nodes.logs()
