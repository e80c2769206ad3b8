"""Launch files, checked without the launch packages (not installable here):
each compiles, starts a role that exists, names only executables, parameters
and files that exist, declares every per-run setting, and imports no torch.
With launch_ros installed (a system ROS 2, or the by-hand build of
docs/launch.md), the descriptions are also generated and inspected, and with
the ``ros2`` CLI, run."""
from __future__ import annotations

import ast
import importlib
import json
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bottlefit_ros.deployment import (DEFAULT_PARAMS_FILE, LAUNCH_ARGS, MODES,
                                      ROLE_NODES, ROLES, LaunchArg, node_overrides, node_specs,
                                      parameter_value)

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))
NODE_MODULES = {'camera_node': 'camera_node', 'edge_node': 'edge_node',
                'monitor_node': 'monitor_node'}
# What a field user sets per run (issue 9), beside mode/model/namespace/params_file.
FIELD_SETTINGS = {'source', 'rate_hz', 'device', 'backend', 'bottleneck_channels', 'weights',
                  'max_frames'}
LAUNCH_ONLY_ARGS = {'namespace', 'params_file', 'log_level'}


def _sample(arg: LaunchArg) -> str:
    """A valid ``name:=value`` text for ``arg``."""
    return arg.choices[0] if arg.choices else {int: '3', float: '2.5', str: 'x',
                                               bool: 'False'}[arg.type]


def _launch_available() -> bool:
    try:
        import launch_ros  # noqa: F401
    except ImportError:
        return False
    return True


needs_launch = pytest.mark.skipif(not _launch_available(), reason='launch_ros is not '
                                  'installable from PyPI; checked where ROS 2 (or the '
                                  'by-hand build of docs/launch.md) provides it')


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
@pytest.mark.parametrize('mode', MODES)
def test_launched_executables_are_installed(path, mode):
    cmake = (REPO / 'CMakeLists.txt').read_text()
    settings = {a.name: _sample(a) for a in LAUNCH_ARGS}
    for spec in node_specs(_role(path), mode=mode, settings=settings):
        assert (REPO / 'scripts' / spec.executable).is_file()
        assert f'scripts/{spec.executable}' in cmake
        assert set(spec.overrides) <= _node_params(spec.executable)


def test_every_field_setting_is_a_launch_argument():
    names = {a.name for a in LAUNCH_ARGS}
    assert FIELD_SETTINGS | {'mode', 'model'} <= names
    assert not names & LAUNCH_ONLY_ARGS


@pytest.mark.parametrize('arg', LAUNCH_ARGS, ids=lambda a: a.name)
def test_launch_argument_sets_a_declared_parameter_of_its_type(arg):
    pytest.importorskip('rclpy')
    for executable in arg.nodes:
        module = importlib.import_module(f'bottlefit_ros.nodes.{NODE_MODULES[executable]}')
        param = {p.name: p for p in module.PARAMS}[arg.name]
        assert type(param.default) is arg.type, (executable, arg.name)
        assert set(arg.choices) == set(param.choices), (executable, arg.name)
        value = parameter_value(arg, _sample(arg))
        assert type(value) is type(param.default)


def test_unset_launch_arguments_override_nothing():
    for role in ROLES:
        assert all(spec.overrides == {} for spec in node_specs(role))
    given = {a.name: '' for a in LAUNCH_ARGS}
    assert all(node_overrides(n, given) == {} for n in NODE_MODULES)


def test_given_launch_arguments_set_only_their_nodes():
    given = {'source': 'synthetic', 'rate_hz': '2', 'bottleneck_channels': '0',
             'max_frames': '7', 'device': '', 'autostart': 'false'}
    assert node_overrides('camera_node', given) == {
        'source': 'synthetic', 'rate_hz': 2.0, 'bottleneck_channels': 0, 'max_frames': 7,
        'autostart': False}
    assert node_overrides('edge_node', given) == {'bottleneck_channels': 0, 'autostart': False}
    assert node_overrides('monitor_node', given) == {'max_frames': 7}


@pytest.mark.parametrize('name, text, match', [
    ('rate_hz', 'fast', "rate_hz:='fast': must be a number"),
    ('bottleneck_channels', '1.5', 'must be an integer'),
    ('mode', 'cloud', 'must be one of split, local, offload'),
    ('autostart', 'yes', 'must be true or false'),
])
def test_launch_argument_of_the_wrong_type_is_refused_by_name(name, text, match):
    arg = {a.name: a for a in LAUNCH_ARGS}[name]
    with pytest.raises(ValueError, match=match):
        parameter_value(arg, text)


# Loads a launch file and builds its description in a fresh interpreter; where
# launch / launch_ros are absent, empty stand-ins take their place (only what
# the launch file imports is under test), then reports the modules loaded.
_IMPORT_PROBE = r"""
import importlib.abc, importlib.machinery, importlib.util, json, sys, types

def absent(name):
    spec = importlib.util.find_spec(name)
    return spec is None or spec.loader is None

class Stub(types.ModuleType):
    __path__ = []
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return type(name, (), {'__init__': lambda self, *a, **k: None})

class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = roots
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
    def create_module(self, spec):
        return Stub(spec.name)
    def exec_module(self, module):
        pass

stubbed = [n for n in ('launch', 'launch_ros') if absent(n)]
sys.meta_path.insert(0, StubFinder(stubbed))
spec = importlib.util.spec_from_file_location('launch_file', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.generate_launch_description()
print(json.dumps({'stubbed': stubbed, 'modules': sorted(sys.modules)}))
"""


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_imports_no_torch(path, tmp_path):
    out = subprocess.run([sys.executable, '-P', '-c', _IMPORT_PROBE, str(path)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout.splitlines()[-1])['modules']
    # (rclpy is launch_ros's own import: not counted against the launch file)
    assert {'torch', 'torchvision', 'cv2', 'bottlefit_ros.runtime'} & set(modules) == set()


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


def _description(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def _context(**configurations: str):
    from launch import LaunchContext
    context = LaunchContext()
    context.launch_configurations.update(
        {'params_file': str(REPO / 'config' / DEFAULT_PARAMS_FILE), 'namespace': '',
         'log_level': 'info', **configurations})
    return context


def _entities(path: Path, kind):
    return [e for e in _description(path).entities if isinstance(e, kind)]


@needs_launch
@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_declares_the_settings_of_its_nodes_empty_by_default(path):
    from launch.actions import DeclareLaunchArgument
    declared = {a.name: a for a in _entities(path, DeclareLaunchArgument)}
    nodes = set(ROLE_NODES[_role(path)])
    expected = {a.name for a in LAUNCH_ARGS if a.name == 'mode' or set(a.nodes) & nodes}
    assert set(declared) == expected | LAUNCH_ONLY_ARGS
    for name in expected:   # unset: the parameter file decides
        assert declared[name].default_value[0].text == ''


@needs_launch
@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_declares_its_nodes_statically_without_forced_tty(path):
    from launch_ros.actions import Node
    nodes = _entities(path, Node)
    assert [n.node_executable for n in nodes] == list(ROLE_NODES[_role(path)])
    assert not any(n.emulate_tty for n in nodes)


@needs_launch
def test_node_overrides_hold_only_the_given_arguments(tmp_path):
    from bottlefit_ros.launch_description import NodeOverrides
    context = _context(source='synthetic', rate_hz='4', device='')
    data = yaml.safe_load(Path(NodeOverrides('camera_node').perform(context)).read_text())
    assert data == {'/**': {'ros__parameters': {'source': 'synthetic', 'rate_hz': 4.0}}}
    # Nothing given to the monitor: it gets the parameter file alone.
    assert NodeOverrides('monitor_node').perform(context) == str(REPO / 'config' /
                                                                 DEFAULT_PARAMS_FILE)


@needs_launch
@pytest.mark.parametrize('configurations, match', [
    ({'params_file': '/nonexistent/params.yaml'}, "params_file:='/nonexistent/params.yaml' "
                                                  'is not a file'),
    ({'rate_hz': 'fast'}, 'rate_hz'),
])
def test_launch_refuses_a_missing_params_file_or_a_bad_argument(configurations, match):
    from bottlefit_ros.launch_description import _check_arguments
    with pytest.raises((RuntimeError, ValueError), match=match):
        _check_arguments(_context(**configurations))


@needs_launch
def test_edge_launch_in_local_mode_starts_nothing_and_says_so():
    from launch.actions import LogInfo
    from launch_ros.actions import Node
    path = REPO / 'launch' / 'edge.launch.py'
    (edge,) = _entities(path, Node)
    (note,) = _entities(path, LogInfo)
    for mode, starts in (('local', False), ('split', True), ('', True)):
        context = _context(mode=mode)
        assert edge.condition.evaluate(context) is starts
        assert note.condition.evaluate(context) is not starts
    assert 'no edge node' in note.msg[0].text


@needs_launch
def test_a_node_exit_ends_the_launch():
    from launch.actions import Shutdown
    from launch.events.process import ProcessExited

    from bottlefit_ros.launch_description import NodeExitedError, _end_launch_on_exit
    on_exit = _end_launch_on_exit('edge_node')

    def exited(code: int):
        return ProcessExited(returncode=code, action=None, name='edge_node-1', cmd=[], cwd=None,
                             env=None, pid=1)
    with pytest.raises(NodeExitedError, match='edge_node exited with code 2'):
        on_exit(exited(2), _context())
    (action,) = on_exit(exited(0), _context())
    assert isinstance(action, Shutdown)
    shutting_down = _context()
    shutting_down._set_is_shutdown(True)
    assert on_exit(exited(-2), shutting_down) == []


@pytest.mark.skipif(shutil.which('ros2') is None or not _launch_available(),
                    reason='needs the ros2 CLI with ros2launch')
@pytest.mark.parametrize('argv, match', [
    (['robot.launch.py', 'model:=no_such_model', 'source:=synthetic'],
     'camera_node exited with code 2'),
    (['bottlefit.launch.py', 'params_file:=/nonexistent.yaml'], 'is not a file'),
])
def test_ros2_launch_fails_clearly(argv, match, domain_id):
    out = subprocess.run(['ros2', 'launch', 'bottlefit_ros', *argv], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    assert match in out.stdout + out.stderr


def test_demo_refuses_a_missing_params_file_before_starting_nodes(tmp_path, capsys):
    pytest.importorskip('ament_index_python')
    from bottlefit_ros.launcher import run_demo
    assert run_demo(mode='split', frames=1, params_file=str(tmp_path / 'missing.yaml'),
                    out_dir=str(tmp_path / 'out')) == 2
    assert 'is not a file' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()   # nothing started, no logs



@pytest.mark.slow
@pytest.mark.skipif(shutil.which('ros2') is None or not _launch_available(),
                    reason='needs the ros2 CLI with ros2launch')
def test_ros2_launch_bounded_run_uses_the_arguments_and_ends_by_itself(tmp_path, domain_id):
    summary = tmp_path / 'summary.json'
    out = subprocess.run(['ros2', 'launch', 'bottlefit_ros', 'bottlefit.launch.py',
                          'source:=synthetic', 'rate_hz:=5', 'max_frames:=2',
                          f'summary_path:={summary}'],
                         capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert 'monitor_node finished: ending the launch' in log
    assert json.loads(summary.read_text())['frames_delivered'] >= 2
    assert 'frames from source synthetic at 5.0 Hz' in log   # given arguments reached the camera
    assert '\x1b[' not in log   # no colour codes in redirected output (no forced tty)
