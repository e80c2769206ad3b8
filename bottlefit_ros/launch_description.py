"""The body of every ``launch/*.launch.py``: declare the common arguments and
start the nodes of one role (:func:`bottlefit_ros.deployment.node_specs`).

Imported only by launch files, so the rest of the package does not need the
``launch`` / ``launch_ros`` packages.
"""
from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from bottlefit_ros.deployment import DEFAULT_PARAMS_FILE, PACKAGE, node_specs
from bottlefit_ros.runtime import MODES


def _nodes(context: LaunchContext, role: str) -> list[Node]:
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    return [
        Node(package=PACKAGE, executable=spec.executable, name=spec.executable,
             namespace=arg('namespace'), output='screen', emulate_tty=True,
             parameters=[arg('params_file'), spec.overrides])
        for spec in node_specs(role, mode=arg('mode'), model=arg('model'))
    ]


def generate(role: str) -> LaunchDescription:
    """The launch description of ``role`` ('robot', 'edge' or 'all')."""
    default_params = os.path.join(get_package_share_directory(PACKAGE), 'config',
                                  DEFAULT_PARAMS_FILE)
    return LaunchDescription([
        DeclareLaunchArgument('mode', default_value='split', choices=list(MODES),
                              description='split | local | offload'),
        DeclareLaunchArgument('model', default_value='',
                              description='split model name; empty = the parameter file\'s'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the nodes and their topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='parameter file of the nodes'),
        OpaqueFunction(function=_nodes, kwargs={'role': role}),
    ])
