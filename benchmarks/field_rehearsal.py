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
DRAIN_S = 10.0          # after the camera sent its last frame: time for stragglers
                        # (Fast DDS repairs a lost fragment on its next heartbeat, 3 s)


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


def run_one(profile: str, mode: str, *, frames: int, rate_hz: float, timeout_s: float,
            out: Path, params_file: str, robot_cpu: float = 0.0) -> tuple[RunResult, NetnsLink]:
    """Bring the link up, run the nodes of ``mode`` over it (the robot's under a
    CPU quota of ``robot_cpu`` cores, 0 = none), tear it all down."""
    out.mkdir(parents=True, exist_ok=True)
    res = RunResult(profile, mode, frames, out_dir=str(out))
    csv_path, summary_path = out / 'frames.csv', out / 'summary.json'
    bounded: dict[str, dict[str, object]] = {
        'camera_node': {'source': 'folder', 'max_frames': frames, 'rate_hz': rate_hz,
                        'num_threads': 1},
        'edge_node': {'num_threads': 1},
        'monitor_node': {'max_frames': frames, 'csv_path': str(csv_path),
                         'summary_path': str(summary_path)},
    }
    base_env = namespace_env()
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


def _fill(res: RunResult, records: list[FrameRecord], summary_path: Path, wire: int) -> None:
    s = summarize(records, frames_sent=res.frames_requested)
    res.frames_delivered = s.frames_delivered
    res.frames_lost = s.frames_lost
    res.e2e_ms = percentiles([r.e2e_ms for r in records], (50, 95, 99))
    res.fps = s.fps
    res.bytes_per_frame = s.bytes_per_frame if records else math.nan
    if records:
        # Local mode sends no frames: its figure is DDS discovery alone.
        res.wire_bytes_per_frame = wire / len(records)
        if wire < sum(r.payload_bytes for r in records):
            res.status += '; WARNING: fewer bytes crossed the veth than were delivered'
    res.energy_j_per_frame = s.energy_j_per_frame
    res.energy_method = s.energy_method
    res.energy_label = ('measured' if s.energy_measured else 'estimated') if records else ''
    if summary_path.exists():      # the monitor's own summary, for the label it gives
        summary = json.loads(summary_path.read_text())
        if summary.get('frames_delivered'):
            res.energy_label = 'measured' if summary.get('energy_measured') else 'estimated'
            res.energy_method = summary.get('energy_method', res.energy_method)


def reduction(baseline: float, split: float) -> float:
    """BottleFit's "reduces X by N %": 100 * (baseline - split) / baseline."""
    if not (math.isfinite(baseline) and math.isfinite(split)) or baseline <= 0:
        return math.nan
    return 100.0 * (baseline - split) / baseline


def _f(v: float, fmt: str) -> str:
    return '-' if not math.isfinite(v) else format(v, fmt)


def format_profile(profile: str, results: list[RunResult], link: NetnsLink | None) -> str:
    """The table of one profile and the split reductions, as Markdown."""
    p = LINK_PROFILES[profile]
    lines = [f'### {profile}: {p.describe()}', '']
    if link is not None:
        applied = '; '.join(f'{k}: {v}' for k, v in link.applied.items()) or 'no shaping'
        lines.append(f'applied: {applied}')
        for note in link.notes:
            lines.append(f'NOTE: {note}')
        lines.append('')
    lines += ['| mode | e2e p50 ms | p95 ms | p99 ms | frames/s | bytes/frame | '
              'veth bytes/frame | delivered | lost | energy J/frame | status |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|']
    for r in results:
        energy = _f(r.energy_j_per_frame, '.3f') + (f' ({r.energy_label})' if r.energy_label
                                                    else '')
        lines.append(
            f'| {r.mode} | {_f(r.e2e_ms.get("p50", math.nan), ".1f")} | '
            f'{_f(r.e2e_ms.get("p95", math.nan), ".1f")} | '
            f'{_f(r.e2e_ms.get("p99", math.nan), ".1f")} | {_f(r.fps, ".2f")} | '
            f'{_f(r.bytes_per_frame, ",.0f")} | {_f(r.wire_bytes_per_frame, ",.0f")} | '
            f'{r.frames_delivered}/{r.frames_requested} | {r.frames_lost} | {energy} | '
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--profiles', default='',
                    help=f'comma-separated, from {", ".join(LINK_PROFILES)} (default: all)')
    ap.add_argument('--modes', default=','.join(MODES), help='comma-separated (default: all)')
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
    modes = [m for m in a.modes.split(',') if m]
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
    print(f'# field rehearsal: {frames} frames at {rate_hz:g} Hz per run, modes '
          f'{", ".join(modes)}; robot = camera + monitor on CPU 0, edge on CPU 1; '
          f'{robot}\n'
          f'# raw CSVs, summaries and node logs: {out}\n', flush=True)
    try:
        return _rehearse(profiles, modes, frames=frames, rate_hz=rate_hz, timeout_s=timeout_s,
                         out=out, params_file=params_file, robot_cpu=a.robot_cpu,
                         robot=robot)
    except KeyboardInterrupt:
        print(f'\nfield_rehearsal: interrupted; namespaces removed; partial output in {out}',
              file=sys.stderr)
        return 130


def _rehearse(profiles: list[str], modes: list[str], *, frames: int, rate_hz: float,
              timeout_s: float, out: Path, params_file: str, robot_cpu: float,
              robot: str) -> int:
    all_results: list[RunResult] = []
    ok = True
    for profile in profiles:
        results: list[RunResult] = []
        link = None
        for mode in modes:
            print(f'[rehearsal] {profile} / {mode} ...', flush=True)
            try:
                res, link = run_one(profile, mode, frames=frames, rate_hz=rate_hz,
                                    timeout_s=timeout_s, out=out / profile / mode,
                                    params_file=params_file, robot_cpu=robot_cpu)
            except (NetnsError, CpuQuotaError) as exc:
                print(f'field_rehearsal: cannot emulate the link: {exc}', file=sys.stderr)
                return 2
            results.append(res)
            ok = ok and res.frames_delivered > 0 and not res.status.startswith(('crashed',
                                                                                 'node exited'))
        print('\n' + format_profile(profile, results, link) + f'\n{robot}\n', flush=True)
        all_results += results
        (out / 'results.json').write_text(json.dumps([asdict(r) for r in all_results], indent=2))
    print(f'raw CSVs, summaries, node logs and results.json in {out}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
