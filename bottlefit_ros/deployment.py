"""Which nodes run where, and which per-run settings a user can give: the one
description shared by the launch files (``launch/*.launch.py``, for
``ros2 launch`` on a system ROS 2) and by the demo starter
(:mod:`bottlefit_ros.launcher`, which starts the same executables with the
same parameter file where the launch packages are not installed).

Plain data and standard library only (no torch, no rclpy, no launch): the
launch files import it, and ``ros2 launch ... --show-args`` stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

ROLES: tuple[str, ...] = ('robot', 'edge', 'all')
# The robot's modes (the camera's ``mode`` parameter): split = head + codec on
# the robot, tail on the edge; local = whole model on the robot (no edge);
# offload = JPEG to the edge, whole model there.
MODES: tuple[str, ...] = ('split', 'local', 'offload')
# A result's mode besides those: the edge did not answer in time (or was gone),
# so the camera ran the whole model itself (its ``deadline_ms``).
FALLBACK_MODE = 'fallback'
RESULT_MODES: tuple[str, ...] = (*MODES, FALLBACK_MODE)
PACKAGE = 'bottlefit_ros'
DEFAULT_PARAMS_FILE = 'bottlefit.yaml'   # in the package's share/config/
LOG_LEVELS: tuple[str, ...] = ('debug', 'info', 'warn', 'error', 'fatal')
# Inference backends of camera and edge (bottlefit_ros.backends.BACKENDS).
BACKENDS: tuple[str, ...] = ('torch', 'onnxruntime')
# Nodes of each role, in start order.
ROLE_NODES: dict[str, tuple[str, ...]] = {
    'robot': ('monitor_node', 'camera_node'),
    'edge': ('edge_node',),
    'all': ('edge_node', 'monitor_node', 'camera_node'),
}


@dataclass(frozen=True)
class LaunchArg:
    """A per-run setting: a launch argument (``name:=value``) that, when given,
    sets the parameter of the same name on ``nodes`` over the parameter file.
    Left empty, it sets nothing: the parameter file decides."""

    name: str
    description: str
    nodes: tuple[str, ...]
    type: type = str
    choices: tuple[str, ...] = ()


_SPLIT_NODES = ('camera_node', 'edge_node')
# Every per-run setting a field user needs, in --show-args order. Besides these,
# the launch files declare namespace, params_file and log_level.
LAUNCH_ARGS: tuple[LaunchArg, ...] = (
    LaunchArg('mode', 'what the robot sends: split (bottleneck) | local (no edge; the edge '
              'launch then starts nothing) | offload (JPEG CompressedImage on image_raw/compressed)',
              ('camera_node',), choices=MODES),
    LaunchArg('model', 'split model registry name (the same on robot and edge)', _SPLIT_NODES),
    LaunchArg('split', 'split point of the model', _SPLIT_NODES),
    LaunchArg('bottleneck_channels', 'BottleFit bottleneck channels, 0 = natural split '
              '(the same on robot and edge)', _SPLIT_NODES, int),
    LaunchArg('weights', 'default | /path/to/checkpoint.pt | ONNX export folder (the same '
              'model on robot and edge)', _SPLIT_NODES),
    LaunchArg('codec', 'bottleneck codec (split mode)', ('camera_node',),
              choices=('q8+zstd', 'q8', 'f32+zstd', 'f32')),
    LaunchArg('source', 'camera input: topic (image_raw) | folder[:PATH] | video:DEV_OR_FILE '
              '| synthetic[:WxH]', ('camera_node',)),
    LaunchArg('rate_hz', 'frame rate of an owned source (folder, video, synthetic)',
              ('camera_node',), float),
    LaunchArg('max_frames', 'bounded run: the camera sends this many frames, the monitor '
              'ends the launch after this many results', ('camera_node', 'monitor_node'), int),
    LaunchArg('backend', 'inference backend: torch | onnxruntime (the ONNX export named by '
              'weights; no PyTorch needed)', _SPLIT_NODES, choices=BACKENDS),
    LaunchArg('device', 'torch: cpu | cuda[:N]; onnxruntime: cpu | cuda | tensorrt',
              _SPLIT_NODES),
    LaunchArg('num_threads', 'inference threads per node, 0 = the backend\'s default',
              _SPLIT_NODES, int),
    LaunchArg('autostart', 'true: camera and edge configure and activate themselves; false: '
              'they wait for a lifecycle manager', _SPLIT_NODES, bool),
    LaunchArg('csv_path', 'per-frame CSV log of the monitor', ('monitor_node',)),
    LaunchArg('mcap_path', 'per-frame MCAP log of the monitor', ('monitor_node',)),
    LaunchArg('summary_path', 'JSON summary the monitor writes at shutdown', ('monitor_node',)),
)


@dataclass(frozen=True)
class NodeSpec:
    """One node process: its executable (also its node name) and the
    parameters that override the parameter file for it."""

    executable: str
    overrides: dict[str, object] = field(default_factory=dict)


def parameter_value(arg: LaunchArg, text: str) -> object:
    """The parameter value of launch argument ``arg`` given as ``text``;
    ``ValueError`` (saying which argument) if it is not of the argument's type."""
    if arg.choices and text not in arg.choices:
        raise ValueError(f'{arg.name}:={text!r}: must be one of {", ".join(arg.choices)}')
    if arg.type is str:
        return text
    if arg.type is bool:
        if text.lower() not in ('true', 'false'):
            raise ValueError(f'{arg.name}:={text!r}: must be true or false')
        return text.lower() == 'true'
    try:
        return arg.type(text)
    except ValueError:
        kind = 'an integer' if arg.type is int else 'a number'
        raise ValueError(f'{arg.name}:={text!r}: must be {kind}') from None


def node_overrides(executable: str, given: Mapping[str, object]) -> dict[str, object]:
    """The parameters of ``executable`` set by the launch arguments in
    ``given`` (name -> value; a string is converted with
    :func:`parameter_value`, an empty string means not given)."""
    overrides: dict[str, object] = {}
    for arg in LAUNCH_ARGS:
        value = given.get(arg.name, '')
        if executable not in arg.nodes or value == '':
            continue
        overrides[arg.name] = parameter_value(arg, value) if isinstance(value, str) else value
    return overrides


def wants_edge(mode: str) -> bool:
    """Whether an edge node has work in ``mode`` ('' = not given: assume so)."""
    return mode != 'local'


def node_specs(role: str, *, mode: str = '', model: str = '',
               settings: Mapping[str, object] | None = None) -> list[NodeSpec]:
    """The nodes of ``role`` ('robot': camera + monitor; 'edge': edge; 'all':
    the three on one host), each with the parameters that ``mode``, ``model``
    and the other launch ``settings`` (see :data:`LAUNCH_ARGS`) set over the
    parameter file; empty ones set nothing. In local mode no edge node is needed."""
    if role not in ROLES:
        raise ValueError(f'role must be one of {ROLES}, got {role!r}')
    given = {**(settings or {}), **({'mode': mode} if mode else {}),
             **({'model': model} if model else {})}
    return [NodeSpec(executable, node_overrides(executable, given))
            for executable in ROLE_NODES[role]
            if executable != 'edge_node' or wants_edge(str(given.get('mode', '')))]
