"""What every node of the package shares: parameter declaration from a table,
diagnostics counters, the managed (lifecycle) node base of camera and edge, and
the ``main`` loop with a clean shutdown."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Callable, Sequence

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from bottlefit_ros.backends import BACKENDS
from bottlefit_ros.deployment import PACKAGE
from bottlefit_ros.runtime import ModelSpec
from bottlefit_ros.shm import OPT_OUT_VAR as SHM_OPT_OUT
from bottlefit_ros.shm import Cleanup, cleanup_enabled, remove_stale_segments


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
    Param('weights', _SPEC.weights, '"default" (packaged weights; with backend onnxruntime, '
          'the export tools/setup.sh writes), a checkpoint path (torch), an export folder '
          '(onnxruntime), or empty for random init (torch)'),
)
# Where and how the network runs, and how often the node reports.
COMPUTE_PARAMS = (
    Param('backend', 'torch', 'inference backend: torch (PyTorch eager) or onnxruntime '
          '(the ONNX export named by weights; no PyTorch needed)', choices=BACKENDS),
    Param('device', 'cpu', 'torch: a torch device (cpu, cuda, cuda:1); onnxruntime: cpu, '
          'cuda or tensorrt (its execution provider)'),
    Param('num_threads', 0, 'intra-op threads of the backend; 0 = its default', min=0,
          max=256),
    Param('diagnostics_period_s', 1.0, 'period of the /diagnostics status', min=0.1,
          max=3600.0),
)

# The robot's power profile: the monitor's energy estimate when it reads no sensor,
# and the camera's adaptive policy's energy predictions (set both alike).
POWER_PROFILE_PARAM = Param('power_profile', '', 'per-device power profile '
                            '(bottlefit_ros/energy/power_profiles.yaml) for the energy estimate '
                            '(monitor, when no sensor is used) and the adaptive policy\'s energy '
                            'predictions (camera); empty = guess from the device')

# Managed (lifecycle) nodes: whether the node brings itself up.
LIFECYCLE_PARAMS = (
    Param('autostart', True, 'configure and activate at start, without a lifecycle manager; '
          'false: wait in "unconfigured" for one (nav2_lifecycle_manager, ros2 lifecycle set)'),
)


# Frames robot -> edge (bottleneck or JPEG): reliable, volatile. The publisher
# keeps a few until the edge has them (a frame sent while the edge is still
# matching arrives); the edge's subscription keeps one (NEWEST_FRAME_QOS).
# Reliable, not best effort, for frames and results alike, with the 100 ms
# writer heartbeat of the package's Fast DDS profiles (config/fastdds_memory.xml):
# chosen from the field rehearsal over lossy links (docs/field-rehearsal.md,
# "QoS for field links"): fewest fallbacks and no frame lost, with or without
# the camera's deadline_ms; best-effort results lost frames that a second
# subscriber (the monitor) could not recover.
FRAME_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# The edge's frame subscription: a queue of one, the newest frame wins. A frame
# still waiting when a newer one arrives is replaced in DDS (the edge counts it,
# dropped_replaced), so an edge that cannot keep up serves the newest work, not a
# backlog, and latency stays bounded. The queue is one per topic, not per
# publisher: several cameras on one edge topic replace each other's waiting
# frames; give the edge a deeper queue with a qos_overrides parameter
# (qos_overrides./bottleneck.subscription.depth) or a namespace per robot.
NEWEST_FRAME_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
# Results: also transient-local, so results published while a subscriber is still
# being matched (discovery at start-up takes longer on a loaded robot) reach it once
# it matches, if it asks for transient-local (the monitor does). Volatile
# subscribers, e.g. a navigation stack's, match as usual and get no history.
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
# What ``qos_overrides`` parameters may change on our own topics. rclpy's
# ``QoSOverridingOptions.with_default_policies()`` covers history, depth and
# reliability only; durability is added so that e.g. ``classification`` can be
# made volatile (or a subscription transient-local) from a parameter file.
QOS_OVERRIDES = QoSOverridingOptions(policy_kinds=(
    QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY,
    QoSPolicyKind.DURABILITY))


# rclpy passes a MessageInfo (the publisher's GID, the sample's DDS sequence number)
# to two-argument callbacks since Iron; Humble's rclpy calls with the message alone.
HAS_MESSAGE_INFO = hasattr(Subscription, 'CallbackType')


def sample_source(info: dict) -> tuple[bytes, int] | None:
    """``(publisher GID, DDS sequence number)`` of a received sample, from rclpy's
    MessageInfo; None where rclpy does not give them. Numbers start at 1 per
    publisher, and a message cannot forge them: gaps are samples that never
    reached the callback (lost, or replaced in a full queue)."""
    gid = info.get('publisher_gid') if isinstance(info, dict) else None
    number = info.get('publication_sequence_number') if isinstance(info, dict) else None
    data = gid.get('data') if isinstance(gid, dict) else None
    if data is None or number is None:
        return None
    return bytes(data), int(number)


def safe_text(value: object, limit: int = 80) -> str:
    """``value`` as one printable line for a log: control characters (newlines
    included, which could forge log lines) escaped, at most ``limit`` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + f'...(+{len(text) - limit} chars)'
    if text.isprintable():
        return text
    return ''.join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def model_spec(values: dict[str, object]) -> ModelSpec:
    """The :class:`ModelSpec` of declared :data:`MODEL_PARAMS` values."""
    return ModelSpec(str(values['model']), str(values['split']),
                     int(values['bottleneck_channels']), str(values['weights']))


def declare(node: Node, params: Sequence[Param], *,
            errors: list[Exception] | None = None) -> dict[str, object]:
    """Declare ``params`` with descriptors; return their values. Values outside a
    range or not among the choices raise ``ValueError`` with the parameter named
    (rclpy's own type and range checks: ``ParameterException``). With ``errors``,
    those are appended to it instead and every parameter is still declared
    (with its default where rclpy refused the given value)."""
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
        try:
            values[p.name] = node.declare_parameter(p.name, p.default, desc).value
            check(p, values[p.name])
        except (ValueError, ParameterException) as exc:
            if errors is None:
                raise
            errors.append(exc)
            if p.name not in values:
                values[p.name] = node.declare_parameter(p.name, p.default, desc,
                                                        ignore_override=True).value
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


# Errors that, raised while a node is built, mean its parameters or files are
# wrong: logged as one FATAL line, exit code 2. rclpy's own range and type checks
# of declared parameters raise ParameterException, not ValueError.
CONFIGURATION_ERRORS = (ValueError, ParameterException, OSError)
# A signal stops spinning within this long (the wait is not interrupted by it).
_SPIN_PERIOD_S = 0.1
_SUCCESS, _FAILURE, _ERROR = (TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE,
                              TransitionCallbackReturn.ERROR)


class ManagedNode(LifecycleNode):
    """A lifecycle node (``rclpy.lifecycle``, Humble and later) that declares its
    parameters when built, so ``ros2 param`` works while it is unconfigured, and
    builds everything else in ``configure``.

    Subclasses implement ``_configure`` (validate, load the model, create
    publishers, subscriptions and timers), ``_activate`` / ``_deactivate``
    (start / stop frames; :attr:`active` is the per-frame gate) and
    ``_release`` (drop whatever ``_configure`` built, also half-built; called
    on cleanup, shutdown, error and :meth:`close`), and call :meth:`start` at
    the end of their constructor.

    - A manager drives it (``autostart: false``): a parameter or file error in
      ``configure`` is one ERROR line and a FAILURE transition; the node stays
      up, unconfigured.
    - ``autostart: true``: :meth:`start` configures and activates at once and
      raises a configuration error, so :func:`run` logs one FATAL line and
      exits with code 2, as a plain node does.

    These nodes hold no ``bond`` (bondpy is not on PyPI): under
    nav2_lifecycle_manager set ``bond_timeout: 0.0``.
    """

    def __init__(self, node_name: str, params: Sequence[Param]) -> None:
        super().__init__(node_name)
        self._param_errors: list[Exception] = []
        self.params = declare(self, params, errors=self._param_errors)
        self.autostart = bool(self.params.get('autostart', True))
        self.active = False
        self._autostarting = False
        self._configure_error: BaseException | None = None

    def start(self) -> None:
        """With ``autostart``, configure and activate now; raise what made
        configuring fail. Without, only say that a manager is awaited."""
        if not self.autostart:
            self.get_logger().info('autostart is false: unconfigured, waiting for a lifecycle '
                                   'manager (configure, then activate)')
            return
        self._autostarting = True
        try:
            if self.trigger_configure() != _SUCCESS:
                raise self._configure_error or RuntimeError('configure failed')
            if self.trigger_activate() != _SUCCESS:
                raise RuntimeError('activate failed')
        finally:
            self._autostarting = False

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters and build the node (``_configure``)."""
        try:
            if self._param_errors:
                raise ValueError(str(self._param_errors[0]))
            self._configure()
        except Exception as exc:  # noqa: BLE001 - reported, the node stays up
            self._configure_error = exc
            self._release_quietly()
            if self._autostarting:
                return _FAILURE      # start() raises it: run() says it once
            if isinstance(exc, CONFIGURATION_ERRORS):
                self.get_logger().error(f'configuration error: {safe_text(exc, 500)}')
                return _FAILURE
            self.get_logger().error('cannot configure:\n'
                                    + ''.join(traceback.format_exception(exc)))
            return _ERROR
        self._configure_error = None
        return _SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start frames (``_activate``)."""
        try:
            self._activate()
        except Exception as exc:  # noqa: BLE001 - rclpy would swallow it unlogged
            self.get_logger().error('cannot activate:\n'
                                    + ''.join(traceback.format_exception(exc)))
            return _ERROR
        self.active = True
        self.get_logger().info('active')
        return _SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop frames (``_deactivate``); frames arriving now are dropped."""
        self.active = False
        self._deactivate()
        self.get_logger().info('inactive')
        return _SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the model, the source, publishers and subscriptions."""
        self._release_quietly()
        self.get_logger().info('cleaned up: unconfigured')
        return _SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything (from any state); the process keeps spinning."""
        self._release_quietly()
        self.get_logger().info('finalized')
        return _SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self._release_quietly()
        return _SUCCESS

    def close(self) -> None:
        """Release everything (called by :func:`run` before the node is destroyed)."""
        self._release_quietly()

    def _destroy_entities(self, *entities: object) -> None:
        """Destroy each timer, subscription or publisher given; ``None`` is skipped."""
        for entity in entities:
            if isinstance(entity, Timer):
                self.destroy_timer(entity)
            elif isinstance(entity, Subscription):
                self.destroy_subscription(entity)
            elif entity is not None:
                self.destroy_publisher(entity)

    def _release_quietly(self) -> None:
        self.active = False
        try:
            self._release()
        except Exception as exc:  # noqa: BLE001 - releasing must not stop the node
            self.get_logger().error('error while releasing:\n'
                                    + ''.join(traceback.format_exception(exc)))

    def _configure(self) -> None:
        raise NotImplementedError

    def _activate(self) -> None:
        """Nothing by default: :attr:`active` gates the frames."""

    def _deactivate(self) -> None:
        """Nothing by default: :attr:`active` gates the frames."""

    def _release(self) -> None:
        raise NotImplementedError


class _StopOnSignal:
    """SIGINT/SIGTERM handler: asks the spin loop to stop, nothing else. No
    exception is raised inside a callback (no half-published frame, no
    ``KeyboardInterrupt`` in clean-up), and later signals during clean-up are
    ignored, so a second Ctrl-C cannot crash it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous = {s: signal.signal(s, self) for s in self.SIGNALS}

    def __call__(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def _node_being_built(tb: TracebackType | None) -> Node | None:
    """The node whose constructor raised: the ``self`` of a frame in ``tb``
    (the node object exists, with its remapped name, before its parameters are
    declared)."""
    while tb is not None:
        obj = tb.tb_frame.f_locals.get('self')
        if isinstance(obj, Node):
            return obj
        tb = tb.tb_next
    return None


def _logger_name(node: Node | None) -> str:
    try:
        return node.get_logger().name if node is not None else 'bottlefit_ros'
    except Exception:  # noqa: BLE001 - a half-built node may not have one yet
        return 'bottlefit_ros'


def _exit_now(code: int) -> None:
    """Flush Python's and C's output buffers, then end the process without the
    interpreter's finalisation (2-5 s with torch loaded); everything the node
    owns has been closed and destroyed by then."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        ctypes.CDLL(None).fflush(None)   # rcutils writes through C stdio
    except (OSError, AttributeError):
        pass
    os._exit(code)


def run(node_factory: Callable[[], Node], args: list[str] | None = None, *,
        exit_process: bool = True) -> int:
    """Init rclpy, build the node, spin until SIGINT, SIGTERM or shutdown; return
    (or, with ``exit_process``, exit with) a code.

    - An error of :data:`CONFIGURATION_ERRORS` while the node is built (a
      parameter out of range, a missing file) is one FATAL line under the node's
      name, no traceback, exit code 2. Any other error while building, or any
      exception escaping a callback, is logged with its traceback: exit code 1.
    - SIGINT and SIGTERM end spinning (rclpy's own handlers are not installed:
      they invalidate the context under a callback that is still publishing);
      then the node's ``close()`` runs while publishing and logging still work,
      the node is destroyed and rclpy shut down. A ``SystemExit`` from a
      callback ends the node the same way, with its code.
    - ``exit_process`` (the node executables): exit right after that clean-up,
      skipping the interpreter's slow finalisation.
    - Before ``rclpy.init``: :func:`use_packaged_dds_profile`, unless the user
      configured Fast DDS, and :func:`remove_stale_dds_segments`.
    """
    stop = _StopOnSignal()
    node: Node | None = None
    code = 0
    use_packaged_dds_profile()
    stale = remove_stale_dds_segments()
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as exc:  # noqa: BLE001 - e.g. unparsable --ros-args
        rclpy.logging.get_logger('bottlefit_ros').fatal(
            f'cannot initialise ROS: {safe_text(exc, 500)}')
        code = 2
    else:
        if stale:
            rclpy.logging.get_logger('bottlefit_ros').info(
                f'removed {stale}, left in /dev/shm by processes that died '
                f'(set {SHM_OPT_OUT}=0 to keep them)')
        try:
            node = node_factory()
        except CONFIGURATION_ERRORS as exc:
            node = _node_being_built(exc.__traceback__)
            rclpy.logging.get_logger(_logger_name(node)).fatal(
                f'configuration error: {safe_text(exc, 500)}')
            _destroy(node, close=False)
            code, node = 2, None
        except Exception as exc:  # noqa: BLE001 - a bug: say where
            node = _node_being_built(exc.__traceback__)
            rclpy.logging.get_logger(_logger_name(node)).fatal(
                'cannot start:\n' + ''.join(traceback.format_exception(exc)))
            _destroy(node, close=False)
            code, node = 1, None
        if node is not None:
            code = _spin(node, stop)
            _destroy(node, close=True)
        try:
            rclpy.try_shutdown()
        except Exception:  # noqa: BLE001 - nothing left to do about it
            pass
    if exit_process:
        _exit_now(code)
    stop.restore()
    return code


# What selects Fast DDS's XML profiles and whether rmw_fastrtps reads their
# memory policy: any of them set by the user means "theirs", left alone.
DDS_PROFILE_VARS = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE',
                    'RMW_FASTRTPS_USE_QOS_FROM_XML')
_FASTRTPS = ('', 'rmw_fastrtps_cpp', 'rmw_fastrtps_dynamic_cpp')


def use_packaged_dds_profile(environ: dict[str, str] | None = None) -> str | None:
    """Point Fast DDS at the package's ``config/fastdds_memory.xml`` (history
    buffers freed with their samples, so one huge message leaves no memory held;
    see the file) and make rmw_fastrtps read its memory policy, unless the user
    set any of :data:`DDS_PROFILE_VARS` or another RMW. Must run before
    ``rclpy.init``. Returns the file set, or None."""
    env = os.environ if environ is None else environ
    if any(env.get(v) for v in DDS_PROFILE_VARS) or env.get('RMW_IMPLEMENTATION',
                                                               '') not in _FASTRTPS:
        return None
    try:
        from ament_index_python.packages import get_package_share_directory
        path = Path(get_package_share_directory(PACKAGE)) / 'config' / 'fastdds_memory.xml'
    except (ImportError, LookupError, ValueError):
        return None
    if not path.is_file():
        return None
    env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(path)
    env['RMW_FASTRTPS_USE_QOS_FROM_XML'] = '1'
    return str(path)


def remove_stale_dds_segments(environ: dict[str, str] | None = None) -> Cleanup | None:
    """With Fast DDS (the default RMW) and unless ``BOTTLEFIT_SHM_CLEANUP=0``,
    remove the shared-memory segments that dead processes left (see
    :mod:`bottlefit_ros.shm`): a node restarted after crashes would otherwise
    leak 16 MiB of RAM per crash. What was removed, or None when nothing was."""
    env = os.environ if environ is None else environ
    if not cleanup_enabled(env) or env.get('RMW_IMPLEMENTATION', '') not in _FASTRTPS:
        return None
    done = remove_stale_segments()
    return done if done.segments else None


def _spin(node: Node, stop: _StopOnSignal) -> int:
    """Spin ``node`` until a signal, a ``SystemExit`` or shutdown; the exit code."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    code = 0
    try:
        while stop.signum is None and rclpy.ok():
            executor.spin_once(timeout_sec=_SPIN_PERIOD_S)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # noqa: BLE001 - a bug in a callback: say where, then clean up
        node.get_logger().fatal('unexpected error, shutting down:\n'
                                + ''.join(traceback.format_exception(exc)))
        code = 1
    finally:
        executor.shutdown(timeout_sec=0)
    return code


def _destroy(node: Node | None, *, close: bool) -> None:
    """``node.close()`` (if asked and it has one), then ``destroy_node()``;
    errors are logged, never raised."""
    if node is None:
        return
    if close and callable(getattr(node, 'close', None)):
        try:
            node.close()
        except Exception as exc:  # noqa: BLE001 - still destroy the node
            node.get_logger().error('error while closing:\n'
                                    + ''.join(traceback.format_exception(exc)))
    try:
        node.destroy_node()
    except Exception:  # noqa: BLE001 - shutting down anyway
        pass
