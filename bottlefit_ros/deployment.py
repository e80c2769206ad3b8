"""Which nodes run where: the one description shared by the launch files
(``launch/*.launch.py``, for ``ros2 launch`` on a system ROS 2) and by the
demo starter (:mod:`bottlefit_ros.launcher`, which starts the same executables
with the same parameter file where the launch packages are not installed).
ROS-free and launch-free: plain data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ROLES: tuple[str, ...] = ('robot', 'edge', 'all')
PACKAGE = 'bottlefit_ros'
DEFAULT_PARAMS_FILE = 'bottlefit.yaml'   # in the package's share/config/


@dataclass(frozen=True)
class NodeSpec:
    """One node process: its executable (also its node name) and the
    parameters that override the parameter file for it."""

    executable: str
    overrides: dict[str, object] = field(default_factory=dict)


def node_specs(role: str, *, mode: str = '', model: str = '') -> list[NodeSpec]:
    """The nodes of ``role`` ('robot': camera + monitor; 'edge': edge; 'all':
    the three on one host). ``mode`` / ``model``, when not empty, override the
    parameter file; in local mode no edge node is needed."""
    if role not in ROLES:
        raise ValueError(f'role must be one of {ROLES}, got {role!r}')
    model_override = {'model': model} if model else {}
    camera = dict(model_override, **({'mode': mode} if mode else {}))
    specs: list[NodeSpec] = []
    if role in ('edge', 'all') and mode != 'local':
        specs.append(NodeSpec('edge_node', dict(model_override)))
    if role in ('robot', 'all'):
        specs.append(NodeSpec('monitor_node'))
        specs.append(NodeSpec('camera_node', camera))
    return specs
