"""Launch files, checked without the launch packages (not installable here):
each compiles, starts a role that exists, and names only executables,
parameters and files that exist. With launch_ros installed, the description
is also generated."""
from __future__ import annotations

import ast
import importlib
import py_compile
from pathlib import Path

import pytest
import yaml

from bottlefit_ros.deployment import DEFAULT_PARAMS_FILE, ROLES, node_specs

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))
NODE_MODULES = {'camera_node': 'camera_node', 'edge_node': 'edge_node',
                'monitor_node': 'monitor_node'}


def _role(path: Path) -> str:
    """The role string a launch file passes to ``generate``."""
    calls = [n for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'generate']
    assert len(calls) == 1, f'{path.name} should call generate(role) once'
    return ast.literal_eval(calls[0].args[0])


def _node_params(executable: str) -> set[str]:
    pytest.importorskip('rclpy')
    module = importlib.import_module(f'bottlefit_ros.nodes.{NODE_MODULES[executable]}')
    return {p.name for p in module.PARAMS}


def test_the_three_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} == {'robot.launch.py', 'edge.launch.py',
                                              'bottlefit.launch.py'}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles_and_names_a_role(path):
    py_compile.compile(str(path), doraise=True)
    assert _role(path) in ROLES


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize('mode', ['split', 'local', 'offload'])
def test_launched_executables_are_installed(path, mode):
    cmake = (REPO / 'CMakeLists.txt').read_text()
    for spec in node_specs(_role(path), mode=mode, model='resnet18'):
        assert (REPO / 'scripts' / spec.executable).is_file()
        assert f'scripts/{spec.executable}' in cmake
        assert set(spec.overrides) <= _node_params(spec.executable)


def test_parameter_file_matches_declared_parameters():
    data = yaml.safe_load((REPO / 'config' / DEFAULT_PARAMS_FILE).read_text())
    for executable in NODE_MODULES:
        section = data[f'/**/{executable}']['ros__parameters']
        assert set(section) == _node_params(executable), executable


def test_parameter_file_values_are_accepted_by_the_nodes():
    pytest.importorskip('rclpy')
    from bottlefit_ros.nodes._common import check
    data = yaml.safe_load((REPO / 'config' / DEFAULT_PARAMS_FILE).read_text())
    for executable, module_name in NODE_MODULES.items():
        module = importlib.import_module(f'bottlefit_ros.nodes.{module_name}')
        section = data[f'/**/{executable}']['ros__parameters']
        for p in module.PARAMS:
            assert type(section[p.name]) is type(p.default), (executable, p.name)
            check(p, section[p.name])


def test_local_mode_starts_no_edge():
    assert [s.executable for s in node_specs('all', mode='local')] == ['monitor_node',
                                                                      'camera_node']
    assert node_specs('edge', mode='local') == []
    with pytest.raises(ValueError, match='role must be one of'):
        node_specs('cloud')


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_generate_launch_description(path):
    pytest.importorskip('launch_ros', reason='launch_ros is not installable from PyPI; '
                        'checked on a system ROS 2 install')
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.generate_launch_description().entities
