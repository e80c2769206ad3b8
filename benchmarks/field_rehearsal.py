#!/usr/bin/env python3
"""Field-trial rehearsal: local, offload and split over emulated robot–edge links.

For each link profile (bottlefit_ros.netem.LINK_PROFILES) and mode, on the same
sample photos: the edge node runs in an "edge" network namespace (CPU 1), the
camera and monitor nodes in a "robot" namespace (CPU 0), joined by a veth pair
shaped to the profile. The robot's processes share a CPU quota
(``--robot-cpu``, default 25 % of one core: a Raspberry-Pi-class robot beside
its edge; 0 = unthrottled), which every output states. Prints, per profile, end-to-end latency p50/p95/p99,
frames per second, bytes per frame, frames lost and energy per frame, then the
reductions of split vs local and split vs offload as the BottleFit paper states
them (Matsubara et al., WoWMoM 2022): 100 * (baseline - split) / baseline.

    sudo tools/with_env.sh python benchmarks/field_rehearsal.py [--short]
    sudo tools/with_env.sh python benchmarks/field_rehearsal.py --qos reliable,best_effort

``--qos`` runs each mode under named QoS variants (:data:`QOS_VARIANTS`: the
reliability of the frame topics and of ``classification``, set on both ends
through ``qos_overrides`` parameters, and optionally a faster Fast DDS heartbeat)
with the camera's deadline fallback on (``--deadline-ms``), and reports per row
the frames answered by the edge, by the robot's fallback, and lost.

Needs root (ip netns, tc); exits with code 2 when namespaces cannot be made.
DDS: every node runs with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and
ROS_STATIC_PEERS=<the other namespace's veth address>, in a ROS_DOMAIN_ID of
its run; the localhost-only Fast DDS profile of tools/with_env.sh is not passed
on. Inside a namespace the only interfaces are lo and the veth, so nothing can
reach the machine's real network.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bottlefit_ros.cpuquota import CpuQuota, CpuQuotaError, cpu_quota_available
from bottlefit_ros.deployment import node_specs
from bottlefit_ros.framelog import read_frame_log
from bottlefit_ros.launcher import default_params_file, node_command, stop_processes
from bottlefit_ros.metrics import FrameRecord, percentiles, summarize
from bottlefit_ros.netem import (LINK_PROFILES, NetnsError, NetnsLink, install_signal_cleanup,
                                 netns_available)

MODES: tuple[str, ...] = ('local', 'offload', 'split')
EDGE_MODES: tuple[str, ...] = ('offload', 'split')
DRAIN_S = 10.0          # after the camera sent its last frame: time for stragglers
                        # (Fast DDS repairs a lost fragment on its next heartbeat, 3 s)


@dataclass(frozen=True)
class QosVariant:
    """Reliability of the frame topics (``bottleneck``, ``image_raw/compressed``:
    camera publishers, edge subscriptions) and of ``classification`` (edge and
    camera publishers, camera and monitor subscriptions), set on every end alike
    so each writer/reader pair stays compatible; ``heartbeat_ms`` > 0 also sets
    the Fast DDS writers' heartbeat period (Fast DDS's default: 3 s; the
    package's profile: :data:`PACKAGED_HEARTBEAT_MS`) through an XML profile."""

    name: str
    frames: str                 # reliable | best_effort
    results: str                # reliable | best_effort
    heartbeat_ms: float = 0.0   # 0 = as the package's profile has it
    description: str = ''

    def parameters(self, namespace: str = '') -> dict[str, dict[str, object]]:
        """The ``qos_overrides`` parameters of each node, by executable."""
        ns = '/' + namespace.strip('/') if namespace.strip('/') else ''

        def key(topic: str, end: str) -> str:
            return f'qos_overrides.{ns}/{topic}.{end}.reliability'
        frames = ('bottleneck', 'image_raw/compressed')
        return {
            'camera_node': {**{key(t, 'publisher'): self.frames for t in frames},
                            key('classification', 'publisher'): self.results,
                            key('classification', 'subscription'): self.results},
            'edge_node': {**{key(t, 'subscription'): self.frames for t in frames},
                          key('classification', 'publisher'): self.results},
            'monitor_node': {key('classification', 'subscription'): self.results},
        }


FASTDDS_HEARTBEAT_MS = 3000.0    # Fast DDS's own default writer heartbeat period
PACKAGED_HEARTBEAT_MS = 100.0    # config/fastdds_memory.xml's (chosen from this rehearsal)
QOS_VARIANTS: dict[str, QosVariant] = {v.name: v for v in (
    QosVariant('reliable', 'reliable', 'reliable', heartbeat_ms=FASTDDS_HEARTBEAT_MS,
               description='frames and results reliable, Fast DDS\'s default heartbeat (3 s): '
                           'the package before this measurement'),
    QosVariant('best_effort', 'best_effort', 'best_effort', heartbeat_ms=FASTDDS_HEARTBEAT_MS,
               description='frames and results best effort (the deadline recovers losses)'),
    QosVariant('frames_best_effort', 'best_effort', 'reliable',
               heartbeat_ms=FASTDDS_HEARTBEAT_MS,
               description='frames best effort, results reliable (3 s heartbeat)'),
    QosVariant('reliable_hb100', 'reliable', 'reliable', heartbeat_ms=100.0,
               description='frames and results reliable, Fast DDS writer heartbeat 100 ms, '
                           'so a lost fragment is repaired sooner: the package\'s default '
                           'since this measurement'),
)}


def incompatible_pairs(variant: QosVariant) -> list[str]:
    """The writer/reader pairs of ``variant`` that DDS would not match (a
    RELIABLE reader never matches a BEST_EFFORT writer), checked with rclpy's
    ``qos_check_compatible`` on the nodes' own profiles; [] when all match."""
    from copy import copy

    from rclpy.qos import QoSCompatibility, ReliabilityPolicy, qos_check_compatible

    from bottlefit_ros.nodes._common import FRAME_QOS, NEWEST_FRAME_QOS, RESULT_QOS
    from bottlefit_ros.nodes._fallback import RESULT_SUB_QOS
    from bottlefit_ros.nodes.monitor_node import MONITOR_RESULT_QOS

    def with_reliability(profile, value: str):
        q = copy(profile)
        q.reliability = ReliabilityPolicy.get_from_short_key(value)
        return q
    pairs = [('frames', FRAME_QOS, variant.frames, NEWEST_FRAME_QOS, variant.frames),
             ('classification -> camera', RESULT_QOS, variant.results, RESULT_SUB_QOS,
              variant.results),
             ('classification -> monitor', RESULT_QOS, variant.results, MONITOR_RESULT_QOS,
              variant.results)]
    bad = []
    for name, pub, pub_rel, sub, sub_rel in pairs:
        result, why = qos_check_compatible(with_reliability(pub, pub_rel),
                                           with_reliability(sub, sub_rel))
        if result == QoSCompatibility.ERROR:
            bad.append(f'{name}: {why}')
    return bad


def heartbeat_profile(heartbeat_ms: float, out: Path) -> Path:
    """A copy of the package's Fast DDS profile (config/fastdds_memory.xml) whose
    writers send heartbeats every ``heartbeat_ms`` (its own period, if any,
    replaced); written under ``out``."""
    from ament_index_python.packages import get_package_share_directory

    from bottlefit_ros.deployment import PACKAGE
    src = Path(get_package_share_directory(PACKAGE)) / 'config' / 'fastdds_memory.xml'
    text = src.read_text()
    if text.count('</data_writer>') != 1:
        raise ValueError(f'{src}: expected one data_writer profile')
    writer = text[:text.index('</data_writer>')]
    writer = writer[writer.rindex('<data_writer'):]
    sec, nanosec = divmod(int(round(heartbeat_ms * 1e6)), 1_000_000_000)
    period = (f'<heartbeat_period><sec>{sec}</sec><nanosec>{nanosec}</nanosec>'
              '</heartbeat_period>')
    pattern = r'<heartbeat_period>.*?</heartbeat_period>'
    if re.search(pattern, writer, flags=re.S):
        mine = re.sub(pattern, period, writer, flags=re.S)
    else:
        mine = writer.replace('<qos>', f'<times>{period}</times>\n    <qos>', 1)
    path = out / f'fastdds_heartbeat_{heartbeat_ms:g}ms.xml'
    path.write_text(text.replace(writer, mine))
    return path


@dataclass
class RunResult:
    """One profile × mode run, as printed and saved in results.json."""

    profile: str
    mode: str
    frames_requested: int
    frames_delivered: int = 0
    frames_lost: int = 0
    e2e_ms: dict[str, float] = field(default_factory=dict)   # p50 / p95 / p99
    fps: float = math.nan
    bytes_per_frame: float = math.nan
    wire_bytes_per_frame: float = math.nan    # all robot->edge veth bytes / frames delivered
    energy_j_per_frame: float = math.nan
    energy_label: str = ''                                    # estimated | measured
    energy_method: str = ''
    status: str = 'ok'
    out_dir: str = ''
    qos: str = ''                 # the QoS variant ('' = the package defaults)
    answered_edge: int = 0        # results of the edge (mode split / offload)
    answered_fallback: int = 0    # results of the robot's fallback (mode fallback)
    late_results: int = -1        # edge results after the fallback (camera's count; -1 unknown)


def run_one(profile: str, mode: str, *, frames: int, rate_hz: float, timeout_s: float,
            out: Path, params_file: str, robot_cpu: float = 0.0,
            qos: QosVariant | None = None,
            deadline_ms: float = 0.0) -> tuple[RunResult, NetnsLink]:
    """Bring the link up, run the nodes of ``mode`` over it (the robot's under a
    CPU quota of ``robot_cpu`` cores, 0 = none; with ``qos``, its overrides; with
    ``deadline_ms``, the camera's fallback), tear it all down."""
    out.mkdir(parents=True, exist_ok=True)
    res = RunResult(profile, mode, frames, out_dir=str(out), qos=qos.name if qos else '')
    csv_path, summary_path = out / 'frames.csv', out / 'summary.json'
    bounded: dict[str, dict[str, object]] = {
        'camera_node': {'source': 'folder', 'max_frames': frames, 'rate_hz': rate_hz,
                        'num_threads': 1},
        'edge_node': {'num_threads': 1},
        'monitor_node': {'max_frames': frames, 'csv_path': str(csv_path),
                         'summary_path': str(summary_path)},
    }
    if deadline_ms > 0:
        bounded['camera_node']['deadline_ms'] = deadline_ms
    for node, values in (qos.parameters() if qos else {}).items():
        bounded[node].update(values)
    base_env = namespace_env()
    if qos is not None and qos.heartbeat_ms > 0:
        # The nodes keep a profile the user set (use_packaged_dds_profile).
        base_env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(heartbeat_profile(qos.heartbeat_ms, out))
        base_env['RMW_FASTRTPS_USE_QOS_FROM_XML'] = '1'
    procs: dict[str, subprocess.Popen] = {}
    logs = {}
    quota = CpuQuota(robot_cpu) if robot_cpu > 0 else None
    with NetnsLink(LINK_PROFILES[profile]) as link:
        tx0 = link.tx_bytes('robot')
        try:
            plan = [('edge', s) for s in node_specs('edge', mode=mode)]
            plan += [('robot', s) for s in node_specs('robot', mode=mode)]
            for side, spec in plan:
                cmd = node_command(spec, params_file=params_file,
                                   extra=bounded.get(spec.executable))
                logs[spec.executable] = (out / f'{spec.executable}.log').open('w')
                full = link.command(side, cmd)
                if side == 'robot' and quota is not None:
                    # Join the group before `ip netns exec` (which remounts /sys).
                    full = quota.wrap(full)
                procs[spec.executable] = subprocess.Popen(
                    full, env={**base_env, **link.dds_env(side)},
                    stdout=logs[spec.executable], stderr=subprocess.STDOUT)
            res.status = _wait(procs, out, frames, timeout_s)
        finally:
            stop_processes(procs)
            for f in logs.values():
                f.close()
            if quota is not None:
                quota.close()
        wire = link.tx_bytes('robot') - tx0
    crashed = {n: p.returncode for n, p in procs.items()
               if p.returncode not in (0, -signal.SIGINT, 128 + signal.SIGINT)}
    if crashed:
        res.status = 'crashed: ' + ', '.join(f'{n} ({c})' for n, c in crashed.items())
    _fill(res, _read_log(csv_path), summary_path, wire)
    logs_text = ''.join((out / f'{n}.log').read_text(errors='replace') for n in procs)
    if 'incompatible QoS' in logs_text:
        res.status += '; WARNING: incompatible QoS (see the node logs)'
    (out / 'link.json').write_text(json.dumps(
        {'profile': asdict(link.profile), 'applied': link.applied, 'notes': link.notes,
         'robot_veth_tx_bytes': wire, 'ROS_DOMAIN_ID': base_env['ROS_DOMAIN_ID'],
         'robot_cpu': quota.describe() if quota is not None else 'unthrottled'}, indent=2))
    return res, link


def namespace_env(domain_id: int | None = None) -> dict[str, str]:
    """This process's environment for nodes started in the namespaces (add
    ``link.dds_env(side)``): no localhost-only Fast DDS profile, and
    ``ROS_DOMAIN_ID`` = ``domain_id`` or a random one in 102..232."""
    env = dict(os.environ)
    # with_env.sh's profile restricts UDP to 127.0.0.1: it must not cross namespaces.
    # Without it (and its RMW_FASTRTPS_USE_QOS_FROM_XML) the nodes use the
    # package's memory-only profile, config/fastdds_memory.xml, as on a robot.
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    env.pop('RMW_FASTRTPS_USE_QOS_FROM_XML', None)
    env.pop('ROS_LOCALHOST_ONLY', None)
    # Domains above 101 keep clear of the 1..100 the project's demo and tests
    # draw from (Fast DDS shared-memory ports are host-wide, not per namespace).
    env['ROS_DOMAIN_ID'] = str(domain_id if domain_id is not None else random.randint(102, 232))
    return env


def _read_log(path: Path) -> list[FrameRecord]:
    """The monitor's per-frame log (empty when the run wrote none)."""
    return read_frame_log(path) if path.exists() else []


def _wait(procs: dict[str, subprocess.Popen], out: Path, frames: int, timeout_s: float) -> str:
    """Until the monitor has all frames, a node dies, or the camera has sent
    everything and ``DRAIN_S`` passed, or ``timeout_s``. Returns a status."""
    monitor = procs['monitor_node']
    deadline = time.monotonic() + timeout_s
    camera_log = out / 'camera_node.log'
    sent_at = None
    while time.monotonic() < deadline:
        if monitor.poll() is not None:
            return 'ok'
        if any(p.poll() not in (None, 0) for p in procs.values()):
            return 'node exited early'
        if sent_at is None and 'max_frames reached' in camera_log.read_text(errors='replace'):
            sent_at = time.monotonic()
        if sent_at is not None and time.monotonic() - sent_at > DRAIN_S:
            return 'frames lost'
        time.sleep(0.2)
    return f'timeout ({timeout_s:g} s)' + ('' if sent_at else ', camera did not send all frames')


def first_answers(records: list[FrameRecord]) -> list[FrameRecord]:
    """The first result of each frame, by arrival: with a deadline a frame may
    be answered twice (the robot's fallback, then the edge's late result), and
    the first answer is the one the robot acts on. A frame is its capture stamp,
    as the camera matches results: an edge's offload result carries the JPEG
    topic's sample number as ``seq``, which runs behind the camera's once the
    camera answered a frame itself without sending it."""
    first: dict[int, FrameRecord] = {}
    for r in sorted(records, key=lambda r: r.arrival_ns):
        first.setdefault(r.stamp_ns, r)
    return sorted(first.values(), key=lambda r: r.arrival_ns)


def _fill(res: RunResult, records: list[FrameRecord], summary_path: Path, wire: int) -> None:
    records = first_answers(records)
    s = summarize(records, frames_sent=res.frames_requested)
    res.frames_delivered = len(records)
    res.frames_lost = max(0, res.frames_requested - len(records))
    res.e2e_ms = percentiles([r.e2e_ms for r in records], (50, 95, 99))
    res.fps = s.fps
    res.bytes_per_frame = s.bytes_per_frame if records else math.nan
    if records:
        # Local mode sends no frames: its figure is DDS discovery alone.
        res.wire_bytes_per_frame = wire / len(records)
        if wire < sum(r.payload_bytes for r in records):
            res.status += '; WARNING: fewer bytes crossed the veth than were delivered'
    res.answered_edge = sum(r.mode in EDGE_MODES for r in records)
    res.answered_fallback = sum(r.mode == 'fallback' for r in records)
    res.energy_j_per_frame = s.energy_j_per_frame
    res.energy_method = s.energy_method
    res.energy_label = ('measured' if s.energy_measured else 'estimated') if records else ''
    if summary_path.exists():      # the monitor's own summary, for the label it gives
        summary = json.loads(summary_path.read_text())
        if summary.get('frames_delivered'):
            res.energy_label = 'measured' if summary.get('energy_measured') else 'estimated'
            res.energy_method = summary.get('energy_method', res.energy_method)
        late = (summary.get('camera_account') or {}).get('late_results')
        res.late_results = int(late) if late is not None else -1


def reduction(baseline: float, split: float) -> float:
    """BottleFit's "reduces X by N %": 100 * (baseline - split) / baseline."""
    if not (math.isfinite(baseline) and math.isfinite(split)) or baseline <= 0:
        return math.nan
    return 100.0 * (baseline - split) / baseline


def _f(v: float, fmt: str) -> str:
    return '-' if not math.isfinite(v) else format(v, fmt)


def _link_lines(link: NetnsLink | None) -> list[str]:
    """What shaping the link applied, and its notes (none without a link)."""
    if link is None:
        return []
    applied = '; '.join(f'{k}: {v}' for k, v in link.applied.items()) or 'no shaping'
    return [f'applied: {applied}', *(f'NOTE: {n}' for n in link.notes), '']


def _energy_cell(r: RunResult) -> str:
    """A run's energy per frame, with how it was obtained."""
    return _f(r.energy_j_per_frame, '.3f') + (f' ({r.energy_label})' if r.energy_label else '')


def format_profile(profile: str, results: list[RunResult], link: NetnsLink | None) -> str:
    """The table of one profile and the split reductions, as Markdown."""
    p = LINK_PROFILES[profile]
    lines = [f'### {profile}: {p.describe()}', '']
    lines += _link_lines(link)
    lines += ['| mode | e2e p50 ms | p95 ms | p99 ms | frames/s | bytes/frame | '
              'veth bytes/frame | delivered | lost | energy J/frame | status |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|']
    for r in results:
        lines.append(
            f'| {r.mode} | {_f(r.e2e_ms.get("p50", math.nan), ".1f")} | '
            f'{_f(r.e2e_ms.get("p95", math.nan), ".1f")} | '
            f'{_f(r.e2e_ms.get("p99", math.nan), ".1f")} | {_f(r.fps, ".2f")} | '
            f'{_f(r.bytes_per_frame, ",.0f")} | {_f(r.wire_bytes_per_frame, ",.0f")} | '
            f'{r.frames_delivered}/{r.frames_requested} | {r.frames_lost} | {_energy_cell(r)} | '
            f'{r.status} |')
    lines.append('')
    lines.append('veth bytes/frame: all bytes the robot sent over the link (frames, DDS '
                 'discovery, acknowledgements, retransmissions) / frames delivered')
    methods = sorted({r.energy_method for r in results if r.energy_method})
    if methods:
        lines.append('energy: ' + ', '.join(methods))
    by_mode = {r.mode: r for r in results}
    split = by_mode.get('split')
    if split is not None:
        lines.append('')
        for base in ('local', 'offload'):
            b = by_mode.get(base)
            if b is None:
                continue
            lat = reduction(b.e2e_ms.get('p50', math.nan), split.e2e_ms.get('p50', math.nan))
            en = reduction(b.energy_j_per_frame, split.energy_j_per_frame)
            lines.append(f'split vs {base}: latency (e2e p50) reduced by {_f(lat, "+.1f")} %, '
                         f'energy per frame reduced by {_f(en, "+.1f")} % '
                         f'({split.energy_label or "-"}; negative = split is worse)')
    return '\n'.join(lines)


def format_qos_profile(profile: str, results: list[RunResult], link: NetnsLink | None,
                       deadline_ms: float) -> str:
    """The table of one profile's QoS variants × modes, as Markdown."""
    p = LINK_PROFILES[profile]
    lines = [f'### {profile}: {p.describe()} (deadline {deadline_ms:g} ms)', '']
    lines += _link_lines(link)
    lines += ['| qos | mode | e2e p50 ms | p95 ms | p99 ms | by edge | by fallback | lost | '
              'late | bytes/frame | veth bytes/frame | energy J/frame | status |',
              '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|']
    for r in results:
        lines.append(
            f'| {r.qos} | {r.mode} | {_f(r.e2e_ms.get("p50", math.nan), ".1f")} | '
            f'{_f(r.e2e_ms.get("p95", math.nan), ".1f")} | '
            f'{_f(r.e2e_ms.get("p99", math.nan), ".1f")} | {r.answered_edge} | '
            f'{r.answered_fallback} | {r.frames_lost} | '
            f'{r.late_results if r.late_results >= 0 else "-"} | '
            f'{_f(r.bytes_per_frame, ",.0f")} | {_f(r.wire_bytes_per_frame, ",.0f")} | '
            f'{_energy_cell(r)} | {r.status} |')
    lines += ['', 'e2e: capture to the first result at the monitor, over every frame answered '
              '(by the edge or by the fallback); lost: frames sent with no result; late: edge '
              'results after the fallback (the camera\'s last status the monitor saw)']
    methods = sorted({r.energy_method for r in results if r.energy_method})
    if methods:
        lines.append('energy: ' + ', '.join(methods))
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--profiles', default='',
                    help=f'comma-separated, from {", ".join(LINK_PROFILES)} (default: all)')
    ap.add_argument('--modes', default='', help='comma-separated (default: all; with --qos: '
                    'offload,split)')
    ap.add_argument('--qos', default='', help='run each mode under these QoS variants, '
                    f'comma-separated, from {", ".join(QOS_VARIANTS)}, with the camera\'s '
                    'deadline fallback on (default: none, the package defaults, no deadline)')
    ap.add_argument('--deadline-ms', type=float, default=250.0,
                    help='with --qos: the camera\'s deadline_ms (default 250)')
    ap.add_argument('--frames', type=int, default=0, help='frames per run (default 30; '
                    '--short: 6). The sample photos are looped')
    ap.add_argument('--rate-hz', type=float, default=0.0, help='camera rate (default 2)')
    ap.add_argument('--timeout-s', type=float, default=0.0,
                    help='per run, node start-up included (default 150; --short: 60)')
    ap.add_argument('--short', action='store_true',
                    help='CI form: wifi_good only, 6 frames, short timeouts')
    ap.add_argument('--out-dir', default='', help='CSVs, summaries, logs (default: a temp dir)')
    ap.add_argument('--robot-cpu', type=float, default=0.25,
                    help='CPU budget of the robot\'s processes, in cores (default 0.25: a '
                    'Raspberry-Pi-class robot); 0 = unthrottled')
    a = ap.parse_args(argv)
    profiles = [p for p in a.profiles.split(',') if p] or (['wifi_good'] if a.short
                                                          else list(LINK_PROFILES))
    variants = [v for v in a.qos.split(',') if v]
    modes = [m for m in a.modes.split(',') if m] or (list(EDGE_MODES) if variants
                                                     else list(MODES))
    for v in variants:
        if v not in QOS_VARIANTS:
            ap.error(f'unknown QoS variant {v!r}; known: {", ".join(QOS_VARIANTS)}')
        bad = incompatible_pairs(QOS_VARIANTS[v])
        if bad:
            ap.error(f'QoS variant {v!r} pairs incompatible ends: {"; ".join(bad)}')
    if variants and a.deadline_ms <= 0:
        ap.error('--qos needs --deadline-ms > 0 (the fallback recovers what is lost)')
    for name in profiles:
        if name not in LINK_PROFILES:
            ap.error(f'unknown profile {name!r}; known: {", ".join(LINK_PROFILES)}')
    for m in modes:
        if m not in MODES:
            ap.error(f'unknown mode {m!r}; known: {", ".join(MODES)}')
    frames = a.frames or (6 if a.short else 30)
    rate_hz = a.rate_hz or 2.0
    timeout_s = a.timeout_s or (60.0 if a.short else 150.0)
    if frames <= 0 or rate_hz <= 0 or timeout_s <= 0:
        ap.error('--frames, --rate-hz and --timeout-s must be positive')

    why = netns_available()
    if why:
        print(f'field_rehearsal: cannot emulate the link: {why}', file=sys.stderr)
        return 2
    if a.robot_cpu < 0:
        ap.error('--robot-cpu must be >= 0')
    why = cpu_quota_available() if a.robot_cpu > 0 else ''
    if why:
        print(f'field_rehearsal: cannot throttle the robot ({why}); use --robot-cpu 0',
              file=sys.stderr)
        return 2
    robot = 'robot unthrottled'
    if a.robot_cpu > 0:
        with CpuQuota(a.robot_cpu) as probe:     # made and removed: it works here
            robot = probe.describe()
    install_signal_cleanup()
    out = Path(a.out_dir or tempfile.mkdtemp(prefix='bottlefit_rehearsal_'))
    out.mkdir(parents=True, exist_ok=True)
    params_file = default_params_file()
    qos_line = (f'; QoS variants {", ".join(variants)}, camera deadline_ms {a.deadline_ms:g}'
                if variants else '')
    print(f'# field rehearsal: {frames} frames at {rate_hz:g} Hz per run, modes '
          f'{", ".join(modes)}{qos_line}; robot = camera + monitor on CPU 0, edge on CPU 1; '
          f'{robot}\n'
          f'# raw CSVs, summaries and node logs: {out}\n', flush=True)
    try:
        return _rehearse(profiles, modes, frames=frames, rate_hz=rate_hz, timeout_s=timeout_s,
                         out=out, params_file=params_file, robot_cpu=a.robot_cpu,
                         robot=robot, variants=[QOS_VARIANTS[v] for v in variants],
                         deadline_ms=a.deadline_ms)
    except KeyboardInterrupt:
        print(f'\nfield_rehearsal: interrupted; namespaces removed; partial output in {out}',
              file=sys.stderr)
        return 130


def _rehearse(profiles: list[str], modes: list[str], *, frames: int, rate_hz: float,
              timeout_s: float, out: Path, params_file: str, robot_cpu: float,
              robot: str, variants: list[QosVariant] | None = None,
              deadline_ms: float = 0.0) -> int:
    all_results: list[RunResult] = []
    ok = True
    runs: list[QosVariant | None] = list(variants or [None])
    for profile in profiles:
        results: list[RunResult] = []
        link = None
        for qos in runs:
            for mode in modes:
                where = f'{profile} / {qos.name} / {mode}' if qos else f'{profile} / {mode}'
                print(f'[rehearsal] {where} ...', flush=True)
                try:
                    res, link = run_one(profile, mode, frames=frames, rate_hz=rate_hz,
                                        timeout_s=timeout_s,
                                        out=out / profile / (qos.name if qos else '') / mode,
                                        params_file=params_file, robot_cpu=robot_cpu, qos=qos,
                                        deadline_ms=deadline_ms if qos else 0.0)
                except (NetnsError, CpuQuotaError) as exc:
                    print(f'field_rehearsal: cannot emulate the link: {exc}', file=sys.stderr)
                    return 2
                results.append(res)
                ok = ok and res.frames_delivered > 0 and not res.status.startswith(
                    ('crashed', 'node exited'))
        table = (format_qos_profile(profile, results, link, deadline_ms) if variants
                 else format_profile(profile, results, link))
        print('\n' + table + f'\n{robot}\n', flush=True)
        all_results += results
        (out / 'results.json').write_text(json.dumps([asdict(r) for r in all_results], indent=2))
    if variants:
        print('QoS variants:\n' + '\n'.join(f'- {v.name}: {v.description}' for v in variants))
    print(f'raw CSVs, summaries, node logs and results.json in {out}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
