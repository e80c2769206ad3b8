"""The body of every ``launch/*.launch.py``: declare the launch arguments of
:data:`bottlefit_ros.deployment.LAUNCH_ARGS` and start the nodes of one role.

The nodes are declared statically (``ros2 launch ... --print`` lists them);
a launch argument that is left empty sets nothing, so the parameter file
decides. Imported only by launch files, so the rest of the package does not
need the ``launch`` / ``launch_ros`` packages; it imports nothing heavy (no
torch), so ``--show-args`` is quick.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import Condition, LaunchContext, LaunchDescription, Substitution
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, Shutdown
from launch.events.process import ProcessExited
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from bottlefit_ros.deployment import (DEFAULT_PARAMS_FILE, LAUNCH_ARGS, LOG_LEVELS, PACKAGE,
                                      ROLE_NODES, node_overrides, parameter_value, wants_edge)

_LOGGER = 'launch.bottlefit_ros'


def _given(context: LaunchContext) -> dict[str, str]:
    """The launch arguments of :data:`LAUNCH_ARGS` as given ('' = not given)."""
    return {a.name: context.launch_configurations.get(a.name, '') for a in LAUNCH_ARGS}


def _check_arguments(context: LaunchContext) -> None:
    """Refuse to start anything with a missing parameter file or a launch
    argument of the wrong type (``ros2 launch`` prints the message, exits 1)."""
    params_file = context.launch_configurations['params_file']
    if not os.path.isfile(params_file):
        raise RuntimeError(f'params_file:={params_file!r} is not a file; give a parameter file '
                           f'(copy share/{PACKAGE}/config/{DEFAULT_PARAMS_FILE} and edit it)')
    for arg in LAUNCH_ARGS:
        value = context.launch_configurations.get(arg.name, '')
        if value:
            parameter_value(arg, value)   # ValueError: which argument, what it must be


class NodeOverrides(Substitution):
    """The path of a parameter file with the parameters that the given launch
    arguments set on one node, written when the node starts (launch_ros does
    the same for dictionaries); the parameter file itself when none is given."""

    def __init__(self, executable: str) -> None:
        super().__init__()
        self.executable = executable

    def describe(self) -> str:
        return f"parameters of {self.executable} set by launch arguments ('' = parameter file's)"

    def perform(self, context: LaunchContext) -> str:
        overrides = node_overrides(self.executable, _given(context))
        if not overrides:
            return context.launch_configurations['params_file']
        with tempfile.NamedTemporaryFile('w', prefix=f'{PACKAGE}_{self.executable}_',
                                         suffix='.yaml', delete=False) as f:
            yaml.safe_dump({'/**': {'ros__parameters': overrides}}, f)
        return f.name


class NodeExitedError(RuntimeError):
    """A node ended with a non-zero code while the launch was running."""


def _end_launch_on_exit(executable: str) -> Callable[[ProcessExited, LaunchContext], list]:
    """``on_exit`` of a node: any node ending ends the launch, saying why. A
    clean end (the monitor's ``max_frames``) shuts it down; a failure (a
    start-up error, a crash) raises, so ``ros2 launch`` logs the reason, stops
    the other nodes and exits with code 1."""
    def on_exit(event: ProcessExited, context: LaunchContext) -> list:
        if context.is_shutdown:   # Ctrl-C or another node's exit: already ending
            return []
        if event.returncode != 0:
            raise NodeExitedError(f'{executable} exited with code {event.returncode} (its log '
                                  'above says why): ending the launch')
        get_logger(_LOGGER).info(f'{executable} finished: ending the launch')
        return [Shutdown(reason=f'{executable} finished')]
    return on_exit


def _node(executable: str) -> Node:
    condition = None
    if executable == 'edge_node':
        condition = Condition(predicate=lambda context: wants_edge(
            context.launch_configurations.get('mode', '')))
    return Node(package=PACKAGE, executable=executable, name=executable,
                namespace=LaunchConfiguration('namespace'), output='screen',
                parameters=[LaunchConfiguration('params_file'), NodeOverrides(executable)],
                ros_arguments=['--log-level', LaunchConfiguration('log_level')],
                on_exit=_end_launch_on_exit(executable), condition=condition)


def generate(role: str) -> LaunchDescription:
    """The launch description of ``role`` ('robot', 'edge' or 'all')."""
    default_params = os.path.join(get_package_share_directory(PACKAGE), 'config',
                                  DEFAULT_PARAMS_FILE)
    entities: list = [
        DeclareLaunchArgument(a.name, default_value='',
                              choices=[*a.choices, ''] if a.choices else None,
                              description=f"{a.description}; '' = the parameter file's")
        for a in LAUNCH_ARGS if a.name == 'mode' or set(a.nodes) & set(ROLE_NODES[role])
    ]
    entities += [
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the nodes and their topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='parameter file of the nodes'),
        DeclareLaunchArgument('log_level', default_value='info', choices=list(LOG_LEVELS),
                              description='log level of the nodes'),
        OpaqueFunction(function=_check_arguments),
    ]
    if role == 'edge':
        entities.append(LogInfo(
            msg='mode:=local runs the whole model on the robot: no edge node is needed, '
                'none started', condition=Condition(predicate=lambda context: not wants_edge(
                    context.launch_configurations.get('mode', '')))))
    entities += [_node(executable) for executable in ROLE_NODES[role]]
    return LaunchDescription(entities)
