"""What every node of the package shares: parameter declaration from a table,
diagnostics counters, and the ``main`` loop with a clean shutdown."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from bottlefit_ros.runtime import ModelSpec


@dataclass(frozen=True)
class Param:
    """One declared parameter: default, description, range, and whether it can
    change while the node runs (most cannot: they need a model reload)."""

    name: str
    default: object
    description: str
    read_only: bool = True
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()


_SPEC = ModelSpec()
# The split model, declared alike on robot and edge (defaults: ModelSpec's).
MODEL_PARAMS = (
    Param('model', _SPEC.model, 'split model registry name (the same on robot and edge)'),
    Param('split', _SPEC.split, 'split point; empty = the model\'s default'),
    Param('bottleneck_channels', _SPEC.bottleneck_channels, 'BottleFit bottleneck channels; '
          '0 = natural split', min=0, max=1024),
    Param('weights', _SPEC.weights, '"default" (packaged weights), a checkpoint path, or empty '
          'for random init'),
)
# Where and how the network runs, and how often the node reports.
COMPUTE_PARAMS = (
    Param('device', 'cpu', 'torch device, e.g. cpu or cuda'),
    Param('num_threads', 0, 'torch intra-op threads; 0 = torch default', min=0, max=256),
    Param('diagnostics_period_s', 1.0, 'period of the /diagnostics status', min=0.1,
          max=3600.0),
)


# Frames robot -> edge (bottleneck or JPEG): reliable, a short queue, volatile.
FRAME_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Results: also transient-local, so results published while a subscriber is still
# being matched (discovery at start-up takes longer on a loaded robot) reach it once
# it matches, if it asks for transient-local (the monitor does). Volatile
# subscribers, e.g. a navigation stack's, match as usual and get no history.
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)


def model_spec(values: dict[str, object]) -> ModelSpec:
    """The :class:`ModelSpec` of declared :data:`MODEL_PARAMS` values."""
    return ModelSpec(str(values['model']), str(values['split']),
                     int(values['bottleneck_channels']), str(values['weights']))


def declare(node: Node, params: Sequence[Param]) -> dict[str, object]:
    """Declare ``params`` with descriptors; return their values. Values outside a
    range or not among the choices raise ``ValueError`` with the parameter named."""
    values: dict[str, object] = {}
    for p in params:
        desc = ParameterDescriptor(description=p.description, read_only=p.read_only)
        if p.choices:
            desc.additional_constraints = 'one of: ' + ', '.join(p.choices)
        if p.min is not None and not isinstance(p.default, bool):
            if isinstance(p.default, int):
                desc.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max),
                                                   step=0)]
            elif isinstance(p.default, float):
                desc.floating_point_range = [FloatingPointRange(from_value=float(p.min),
                                                                to_value=float(p.max), step=0.0)]
        values[p.name] = node.declare_parameter(p.name, p.default, desc).value
        check(p, values[p.name])
    return values


def check(p: Param, value: object) -> None:
    """Raise ``ValueError`` if ``value`` is not allowed for ``p``."""
    if p.choices and value not in p.choices:
        raise ValueError(f'parameter {p.name}={value!r} must be one of {", ".join(p.choices)}')
    if p.min is not None and isinstance(value, (int, float)) and not p.min <= value <= p.max:
        raise ValueError(f'parameter {p.name}={value!r} must be within [{p.min}, {p.max}]')


def reject_read_only_and_invalid(params: Sequence[Param]) -> Callable[[list], SetParametersResult]:
    """An ``add_on_set_parameters_callback`` that validates changes against ``params``."""
    by_name = {p.name: p for p in params}

    def callback(changes: list) -> SetParametersResult:
        for change in changes:
            p = by_name.get(change.name)
            if p is None:
                continue
            try:
                check(p, change.value)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)
    return callback


class Counters(Counter):
    """Named event counters, published as a ``diagnostic_msgs`` status."""

    def status(self, node: Node, message: str, *, warn_keys: Sequence[str] = (),
               extra: dict[str, str] | None = None) -> DiagnosticArray:
        """A ``DiagnosticArray`` of these counters (WARN when a ``warn_keys`` counter > 0)."""
        st = DiagnosticStatus()
        st.name = f'{node.get_fully_qualified_name()}'
        st.hardware_id = node.get_name()
        warn = any(self[k] > 0 for k in warn_keys)
        st.level = DiagnosticStatus.WARN if warn else DiagnosticStatus.OK
        st.message = message
        items = {k: str(v) for k, v in sorted(self.items())}
        items.update(extra or {})
        st.values = [KeyValue(key=k, value=v) for k, v in items.items()]
        arr = DiagnosticArray()
        arr.header.stamp = node.get_clock().now().to_msg()
        arr.status = [st]
        return arr


def run(node_factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Init rclpy, build the node, spin until shutdown; return an exit code.

    A configuration error while the node is built (``ValueError``) is logged as
    one clear line and gives exit code 2 instead of a traceback.
    """
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = node_factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as exc:
        name = node.get_name() if node is not None else 'bottlefit_ros'
        rclpy.logging.get_logger(name).fatal(f'configuration error: {exc}')
        code = 2
    finally:
        try:
            if node is not None:
                close = getattr(node, 'close', None)
                if close is not None:
                    close()
                node.destroy_node()
            rclpy.try_shutdown()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
    return code
