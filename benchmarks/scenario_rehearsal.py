#!/usr/bin/env python3
"""Scenario rehearsal: a timeline of link profiles and an edge outage, run with
each fixed camera mode and with the adaptive policy, on the same frames.

The timeline is data (:data:`TIMELINE`; default 5 phases of ``--phase-s`` s):
good Wi-Fi, poor Wi-Fi, the edge killed (SIGKILL, link still poor), LTE with the
edge still down, the edge restarted on LTE. For each camera configuration
(:data:`CONFIGS`: fixed local, fixed split and fixed offload with a deadline and
the local fallback, adaptive) one continuous run goes through the whole
timeline over one emulated link (``bottlefit_ros.netem``, re-shaped live with
``NetnsLink.set_profile``), the robot's processes under a CPU quota
(``--robot-cpu``) as in ``field_rehearsal.py``, the camera reading the sample
photos in a loop at ``--rate-hz``.

A recorder (``scenario_recorder.py``) in the robot's namespace logs every
result and the camera's ``/diagnostics`` account over time. Frames belong to
the phase in which they were captured. Per phase: frames answered by the edge,
by the fallback, locally, dropped (with reason, from the camera's account at
the phase boundaries), e2e p50 / p95, bytes and energy (estimated) per frame.
Per run: the account reconciled (frames captured == outcomes; results recorded
== frames answered; unexplained losses), the time from the edge's kill to the
first fallback result and from its restart to the first result it answers.
Then the adaptive policy against the best fixed mode per phase (p50) and over
the whole timeline (p95). Markdown on stdout; ``report.html`` with plots.
``--repeat N`` runs all the configurations N times, round after round, and also
compares each configuration's frames of all rounds together
(:func:`pool_rounds`): how fast one run's robot is varies from run to run.

    sudo tools/with_env.sh python benchmarks/scenario_rehearsal.py [--short]

Needs root (ip netns, tc); exits with code 2 when namespaces cannot be made.
"""
from __future__ import annotations

import argparse
import bisect
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bottlefit_ros.cpuquota import CpuQuota, CpuQuotaError, cpu_quota_available
from bottlefit_ros.deployment import FALLBACK_MODE, node_specs
from bottlefit_ros.energy.meter import FrameEnergyMeter
from bottlefit_ros.framelog import read_frame_log
from bottlefit_ros.inflight import (ANSWERED_EDGE, ANSWERED_FALLBACK, ANSWERED_LOCAL, DROPPED,
                                    OUTCOMES)
from bottlefit_ros.launcher import default_params_file, node_command, stop_processes
from bottlefit_ros.metrics import percentiles, read_summary
from bottlefit_ros.netem import LINK_PROFILES, NetnsError, NetnsLink, install_signal_cleanup, \
    netns_available
from bottlefit_ros.policy import EDGE_MODES
from bottlefit_ros.report import figure_html, html_page, png_base64

sys.path.insert(0, str(Path(__file__).resolve().parent))
from field_rehearsal import _f, namespace_env, reduction  # noqa: E402

RECORDER = Path(__file__).resolve().parent / 'scenario_recorder.py'
EDGE_UP, EDGE_KILL, EDGE_DOWN, EDGE_RESTART = 'up', 'kill', 'down', 'restart'
RESTART_BOUND_S = 5.0      # issue 8: after the edge returns, split resumes within 5 s
DRAIN_S = 15.0             # after the last frame: until nothing is in flight
COMPARISON = 'adaptive vs the fixed modes'   # the comparison tables' title


@dataclass(frozen=True)
class Phase:
    """One stretch of the timeline: the link's profile, and what happens to the
    edge at its start (``up``: nothing; ``kill``: SIGKILL; ``down``: stays dead;
    ``restart``: started again)."""

    name: str
    profile: str
    edge: str


TIMELINE: tuple[Phase, ...] = (
    Phase('1 wifi_good', 'wifi_good', EDGE_UP),
    Phase('2 wifi_poor', 'wifi_poor', EDGE_UP),
    Phase('3 edge killed', 'wifi_poor', EDGE_KILL),
    Phase('4 lte, edge down', 'lte', EDGE_DOWN),
    Phase('5 edge back, lte', 'lte', EDGE_RESTART),
)
SHORT_TIMELINE: tuple[Phase, ...] = (
    Phase('1 wifi_good', 'wifi_good', EDGE_UP),
    Phase('2 edge killed, wifi_poor', 'wifi_poor', EDGE_KILL),
)
# The camera's deadline_ms in every configuration, unless --deadline-ms says otherwise.
DEADLINE_MS = 250.0
# Camera configurations: parameters over the packaged file (deadline_ms added).
CONFIGS: dict[str, dict[str, object]] = {
    'local': {'mode': 'local', 'modes': ['local']},
    'split': {'mode': 'split', 'modes': ['split', 'local']},
    'offload': {'mode': 'offload', 'modes': ['offload', 'local']},
    'adaptive': {'mode': 'split', 'modes': ['local', 'split', 'offload'], 'adaptive': True},
}
FIXED = ('local', 'split', 'offload')


# -- the per-frame record and its analysis (ROS-free) ------------------------------
@dataclass
class Answer:
    """One answered frame, as the recorder saw its results."""

    stamp_ns: int
    outcome: str              # answered_edge | answered_fallback | answered_local
    mode: str                 # mode of the result used: split, offload, local, fallback
    e2e_ms: float
    payload_bytes: int
    robot_compute_ms: float
    energy_j: float = math.nan
    phase: int = 0


def read_events(path: Path) -> tuple[list[dict], list[dict]]:
    """The recorder's results and camera statuses, in file order."""
    results, diags = [], []
    if path.exists():
        for line in path.read_text(encoding='utf-8').splitlines():
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:       # a line cut by the recorder's stop
                continue
            (results if ev.get('k') == 'r' else diags).append(ev)
    return results, diags


def merge_monitor_log(results: list[dict], monitor_log: Path, *,
                      deadline_ms: float) -> tuple[list[dict], int, int]:
    """The recorder's ``results`` completed with the monitor's log (``frames.csv``),
    and how many results came only from it and how many arrivals it moved earlier.
    Each subscriber in the robot's namespace matches a restarted edge's publisher on
    its own, and the recorder has been seen to do so after the camera and the monitor
    (~0.6 s at ``d8528f4``, ~1.6 s in run I): the returned edge's first results then
    reached it not at all, or late (delivered to a late joiner, up to 1.8 s after
    their capture, where the monitor logged 30-150 ms). A result only the monitor
    logged is added as a recorder event (``frame_id`` unknown: ''). An edge result the
    recorder got after the frame's deadline (``deadline_ms`` after its capture) and
    the monitor before takes the monitor's arrival: had the camera not had it by its
    deadline, it would have answered the frame itself. (Otherwise the recorder's
    arrival stands: the two differ by ~10 ms either way, one process under the
    robot's quota and one not.)"""
    if not monitor_log.exists():
        return list(results), 0, 0
    logged = {}
    for rec in read_frame_log(monitor_log):
        logged.setdefault((rec.stamp_ns, rec.mode), rec)
    merged, earlier, seen = [], 0, set()
    for r in results:
        rec = logged.get((r['stamp_ns'], r['mode']))
        if r['mode'] in EDGE_MODES and rec is not None \
                and r['arrival_ns'] - r['stamp_ns'] > deadline_ms * 1e6 \
                and rec.arrival_ns < r['arrival_ns']:
            r = {**r, 'arrival_ns': rec.arrival_ns}
            earlier += 1
        merged.append(r)
        seen.add(r['stamp_ns'])
    only = 0
    for rec in logged.values():
        if rec.stamp_ns not in seen:
            seen.add(rec.stamp_ns)
            only += 1
            merged.append({'k': 'r', 'source': 'monitor', 'stamp_ns': rec.stamp_ns,
                           'frame_id': '', 'mode': rec.mode, 'arrival_ns': rec.arrival_ns,
                           'payload_bytes': rec.payload_bytes,
                           'preprocess_ms': rec.preprocess_ms, 'head_ms': rec.head_ms,
                           'encode_ms': rec.encode_ms})
    return merged, only, earlier


def answers_from_results(results: list[dict]) -> list[Answer]:
    """One :class:`Answer` per frame (capture stamp and frame_id), as the camera
    counts it: a fallback result makes it ``answered_fallback`` (an edge result
    for it came too late), else an edge result ``answered_edge``, else a local
    one ``answered_local``. Its latency is that result's."""
    by_frame: dict[tuple[int, str], list[dict]] = {}
    for r in results:
        by_frame.setdefault((r['stamp_ns'], r['frame_id']), []).append(r)
    answers = []
    for (stamp_ns, _), rs in sorted(by_frame.items()):
        for outcome, modes in ((ANSWERED_FALLBACK, {FALLBACK_MODE}),
                               (ANSWERED_EDGE, EDGE_MODES), (ANSWERED_LOCAL, {'local'})):
            chosen = sorted((r for r in rs if r['mode'] in modes), key=lambda r: r['arrival_ns'])
            if chosen:
                r = chosen[0]
                answers.append(Answer(
                    stamp_ns, outcome, r['mode'], (r['arrival_ns'] - stamp_ns) / 1e6,
                    int(r['payload_bytes']),
                    r['preprocess_ms'] + r['head_ms'] + r['encode_ms']))
                break
    return answers


def phase_of(stamp_ns: int, starts_ns: list[int]) -> int:
    """Index of the phase a frame captured at ``stamp_ns`` belongs to."""
    return max(0, bisect.bisect_right(starts_ns, stamp_ns) - 1)


def account_at(diags: list[dict], t_ns: int | None) -> dict[str, int]:
    """The camera's integer status values in its first status at or after ``t_ns``
    (``None``, or none that late: its last)."""
    chosen = None
    for d in diags:
        chosen = d
        if t_ns is not None and d['time_ns'] >= t_ns:
            break
    if chosen is None:
        return {}
    return {k: int(v) for k, v in chosen['values'].items() if v.lstrip('-').isdigit()}


def delta(a: dict[str, int], b: dict[str, int], key: str) -> int:
    return b.get(key, 0) - a.get(key, 0)


@dataclass
class PhaseStats:
    name: str
    profile: str
    edge: str
    duration_s: float
    answered: dict[str, int] = field(default_factory=dict)    # outcome -> frames
    dropped: dict[str, int] = field(default_factory=dict)     # reason -> frames (account)
    modes: dict[str, int] = field(default_factory=dict)       # result mode -> frames
    e2e_ms: dict[str, float] = field(default_factory=dict)
    bytes_per_frame: float = math.nan
    energy_j_per_frame: float = math.nan

    @property
    def frames(self) -> int:
        return sum(self.answered.values()) + sum(self.dropped.values())


@dataclass
class ConfigRun:
    """One configuration's continuous run through the timeline."""

    config: str
    phases: list[PhaseStats] = field(default_factory=list)
    e2e_ms: dict[str, float] = field(default_factory=dict)   # whole timeline
    captured: int = 0               # frames_in
    rejected: int = 0
    sent: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)    # camera's final account
    in_flight: int = -1
    recorded: dict[str, int] = field(default_factory=dict)    # answered, from the results
    unexplained: int = -1
    monitor_measured: int = -1
    monitor_only: int = 0           # frames whose result only the monitor's log holds
    monitor_earlier: int = 0        # edge results recorded after their deadline, the
                                    # monitor's earlier arrival taken (merge_monitor_log)
    kill_to_robot_ms: float = math.nan          # kill -> first result answered on the robot
    kill_robot_mode: str = ''                    # its mode: fallback, or local
    kill_robot_capture_ms: float = math.nan      # that frame's capture, after the kill
    kill_robot_e2e_ms: float = math.nan          # and its capture-to-result time
    kill_gap_ms: float = math.nan                # longest time without a result in the kill phase
    restart_to_edge_ms: float = math.nan
    restart_edge_mode: str = ''
    restart_to_active_ms: float = math.nan       # the restarted edge node's start-up
    status: str = 'ok'
    out_dir: str = ''
    series: list[tuple[float, float, str]] = field(default_factory=list)  # (s, e2e ms, mode)
    boundaries_s: list[float] = field(default_factory=list)


def analyse(run: ConfigRun, timeline: tuple[Phase, ...], starts_ns: list[int], end_ns: int,
            results: list[dict], diags: list[dict], *, kill_ns: int | None,
            restart_ns: int | None, energy: FrameEnergyMeter) -> None:
    """Fill ``run`` from what was recorded: per phase, reconciliation, timings."""
    answers = answers_from_results(results)
    for a in answers:
        a.phase = phase_of(a.stamp_ns, starts_ns)
        a.energy_j = energy.frame(e2e_ms=a.e2e_ms, robot_compute_ms=a.robot_compute_ms,
                                  payload_bytes=a.payload_bytes).total.energy_j
    t0 = starts_ns[0]
    run.series = [((a.stamp_ns - t0) / 1e9, a.e2e_ms, a.mode) for a in answers]
    run.boundaries_s = [(s - t0) / 1e9 for s in starts_ns[1:]]
    bounds = [*starts_ns, end_ns]
    accounts = [account_at(diags, t) for t in starts_ns] + [account_at(diags, None)]
    accounts[0] = {}
    for i, ph in enumerate(timeline):
        mine = [a for a in answers if a.phase == i]
        st = PhaseStats(ph.name, ph.profile, ph.edge, (bounds[i + 1] - bounds[i]) / 1e9)
        st.answered = {o: sum(a.outcome == o for a in mine)
                       for o in (ANSWERED_EDGE, ANSWERED_FALLBACK, ANSWERED_LOCAL)}
        st.dropped = {k: delta(accounts[i], accounts[i + 1], k) for k in DROPPED
                      if delta(accounts[i], accounts[i + 1], k)}
        for a in mine:
            st.modes[a.mode] = st.modes.get(a.mode, 0) + 1
        st.e2e_ms = percentiles([a.e2e_ms for a in mine], (50, 95))
        if mine:
            st.bytes_per_frame = sum(a.payload_bytes for a in mine) / len(mine)
            st.energy_j_per_frame = sum(a.energy_j for a in mine) / len(mine)
        run.phases.append(st)
    run.e2e_ms = percentiles([a.e2e_ms for a in answers], (50, 95))
    final = accounts[-1]
    run.captured, run.rejected = final.get('frames_in', 0), final.get('frames_rejected', 0)
    run.sent = final.get('frames_sent', 0)
    run.outcomes = {k: final.get(k, 0) for k in OUTCOMES}
    run.in_flight = final.get('in_flight', -1)
    run.recorded = {o: sum(a.outcome == o for a in answers)
                    for o in (ANSWERED_EDGE, ANSWERED_FALLBACK, ANSWERED_LOCAL)}
    dropped = sum(run.outcomes[k] for k in DROPPED)
    # Frames captured whose fate nothing records: neither a result seen nor a
    # counted rejection or drop (and the camera's own account must agree).
    run.unexplained = (run.captured - run.rejected - dropped - sum(run.recorded.values())
                       + abs(run.sent - sum(run.outcomes.values()))
                       + sum(abs(run.outcomes[o] - n) for o, n in run.recorded.items()))
    if kill_ns is not None:
        _after_kill(run, answers, kill_ns, [*starts_ns[1:], end_ns])
    if restart_ns is not None:
        wanted = EDGE_MODES if run.config == 'adaptive' else {CONFIGS[run.config]['mode']}
        back = [a for a in answers if a.outcome == ANSWERED_EDGE and a.mode in wanted
                and a.stamp_ns + a.e2e_ms * 1e6 > restart_ns]
        if back:
            a = min(back, key=lambda a: a.stamp_ns + a.e2e_ms * 1e6)
            run.restart_to_edge_ms = (a.stamp_ns + a.e2e_ms * 1e6 - restart_ns) / 1e6
            run.restart_edge_mode = a.mode


def _after_kill(run: ConfigRun, answers: list[Answer], kill_ns: int, ends_ns: list[int]) -> None:
    """The robot's answer to the edge's death: the first result it answered
    itself (a fallback result arriving after the kill, or a local result of a
    frame captured after it: a camera already in local mode needs no fallback),
    and the longest time without any result from the kill to the kill phase's end."""
    def arrival(a: Answer) -> float:
        return a.stamp_ns + a.e2e_ms * 1e6
    first = [a for a in answers if arrival(a) > kill_ns and (
        a.outcome == ANSWERED_FALLBACK or (a.outcome == ANSWERED_LOCAL and a.stamp_ns >= kill_ns))]
    if first:
        a = min(first, key=arrival)
        run.kill_to_robot_ms = (arrival(a) - kill_ns) / 1e6
        run.kill_robot_mode = a.mode
        run.kill_robot_capture_ms = (a.stamp_ns - kill_ns) / 1e6
        run.kill_robot_e2e_ms = a.e2e_ms
    end = next((e for e in ends_ns if e > kill_ns), None)
    if end is not None:
        times = sorted(t for a in answers if kill_ns < (t := arrival(a)) <= end)
        edges = [kill_ns, *times, end]
        run.kill_gap_ms = max(b - a for a, b in zip(edges, edges[1:])) / 1e6


# -- running one configuration --------------------------------------------------
def _wait_for(path: Path, needles: tuple[str, ...], procs: dict, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text(errors='replace') if path.exists() else ''
        if any(n in text for n in needles):
            return True
        if any(p.poll() is not None for p in procs.values()):
            return False
        time.sleep(0.05)
    return False


def run_config(config: str, timeline: tuple[Phase, ...], *, phase_s: float, rate_hz: float,
               deadline_ms: float, out: Path, params_file: str, robot_cpu: float,
               domain: int | None, energy: FrameEnergyMeter, startup_s: float,
               backend: str = '') -> ConfigRun:
    """One continuous run of ``config`` through ``timeline``; ``backend``, when given,
    for camera and edge (else the parameter file's)."""
    out.mkdir(parents=True, exist_ok=True)
    run = ConfigRun(config, out_dir=str(out))
    frames = round(len(timeline) * phase_s * rate_hz)
    params = CONFIGS[config]
    mode = str(params['mode'])
    camera = {**params, 'deadline_ms': deadline_ms, 'source': 'folder', 'loop': True,
              'max_frames': frames, 'rate_hz': rate_hz, 'num_threads': 1,
              'diagnostics_period_s': 0.25}
    edge_params = {'num_threads': 1}
    if backend:
        camera['backend'] = edge_params['backend'] = backend
    bounded = {'camera_node': camera, 'edge_node': edge_params,
               'monitor_node': {'csv_path': str(out / 'frames.csv'),
                                'summary_path': str(out / 'summary.json'),
                                'power_reader': 'estimate'}}
    env = namespace_env(domain)
    events_path = out / 'events.jsonl'
    events_path.unlink(missing_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, object] = {}
    quota = CpuQuota(robot_cpu) if robot_cpu > 0 else None
    starts_ns: list[int] = []
    kill_ns = restart_ns = None
    timeline_log = []
    with NetnsLink(LINK_PROFILES[timeline[0].profile]) as link:
        def start(side: str, name: str, cmd: list[str], throttle: bool) -> None:
            logs.setdefault(name, (out / f'{name}.log').open('a'))
            full = link.command(side, cmd)
            if throttle and quota is not None:
                full = quota.wrap(full)      # join the group before `ip netns exec`
            procs[name] = subprocess.Popen(full, env={**env, **link.dds_env(side)},
                                           stdout=logs[name], stderr=subprocess.STDOUT)

        try:
            cmds = {}
            for side, spec in ([('edge', s) for s in node_specs('edge', mode=mode)]
                               + [('robot', s) for s in node_specs('robot', mode=mode)]):
                cmds[spec.executable] = (side, node_command(
                    spec, params_file=params_file, extra=bounded.get(spec.executable)))
            # The recorder is instrumentation: in the robot's namespace, not its quota.
            start('robot', 'recorder', [sys.executable, str(RECORDER), str(events_path)], False)
            for name, (side, cmd) in cmds.items():
                start(side, name, cmd, side == 'robot')
            if not _wait_for(out / 'camera_node.log', ('frames flow', 'first frame in'),
                             procs, startup_s):
                run.status = 'camera did not start sending'
                return run
            for i, ph in enumerate(timeline):
                if i:
                    if ph.profile != link.profile.name:
                        link.set_profile(LINK_PROFILES[ph.profile])
                    edge = procs.get('edge_node')
                    if ph.edge == EDGE_KILL and edge is not None:
                        edge.send_signal(signal.SIGKILL)
                        kill_ns = time.time_ns()
                        edge.wait(10)
                    elif ph.edge == EDGE_RESTART and 'edge_node' in cmds:
                        restart_ns = time.time_ns()
                        start('edge', 'edge_node', cmds['edge_node'][1], False)
                starts_ns.append(time.time_ns())
                timeline_log.append({'phase': ph.name, 'profile': ph.profile,
                                     'edge': ph.edge, 'start_ns': starts_ns[-1],
                                     'applied': dict(link.applied)})
                print(f'[scenario] {config}: phase {ph.name} ({ph.profile}, edge {ph.edge})',
                      flush=True)
                end = time.monotonic() + phase_s
                while time.monotonic() < end:
                    dead = [n for n, p in procs.items() if p.poll() is not None
                            and not (n == 'edge_node' and kill_ns and not restart_ns)]
                    if dead:
                        raise RuntimeError(f'{", ".join(dead)} exited')
                    time.sleep(0.1)
            if not _wait_for(out / 'camera_node.log', ('max_frames reached',),
                             {n: p for n, p in procs.items() if n != 'edge_node'},
                             phase_s + DRAIN_S):
                run.status = 'camera did not send all frames in time'
            end_ns = time.time_ns()
            drain = time.monotonic() + DRAIN_S
            while time.monotonic() < drain:        # until nothing is in flight
                acc = account_at(read_events(events_path)[1], None)
                if acc.get('frames_sent') == frames and acc.get('in_flight') == 0:
                    break
                time.sleep(0.25)
            time.sleep(1.5)      # the last results and a status after them
        except RuntimeError as exc:
            run.status = f'crashed: {exc}'
            end_ns = time.time_ns()
        finally:
            recorder = procs.pop('recorder', None)
            stop_processes(procs)
            if recorder is not None:
                stop_processes({'recorder': recorder})
                procs['recorder'] = recorder
            for f in logs.values():
                f.close()
            if quota is not None:
                quota.close()
        (out / 'timeline.json').write_text(json.dumps(
            {'phases': timeline_log, 'kill_ns': kill_ns, 'restart_ns': restart_ns,
             'end_ns': end_ns, 'history': link.history, 'notes': link.notes,
             'ROS_DOMAIN_ID': env['ROS_DOMAIN_ID'],
             'robot_cpu': quota.describe() if quota else 'unthrottled'}, indent=2))
    if starts_ns:
        analyse_recording(run, out, energy, deadline_ms=deadline_ms)
    return run


def analyse_recording(run: ConfigRun, out: Path, energy: FrameEnergyMeter, *,
                      deadline_ms: float) -> None:
    """Fill ``run`` from one configuration's recording in ``out`` (``timeline.json``, whose
    phases name the timeline's, ``events.jsonl``, the monitor's ``frames.csv`` and
    ``summary.json``, the edge's log)."""
    rec = json.loads((out / 'timeline.json').read_text())
    phases = {p.name: p for p in (*TIMELINE, *SHORT_TIMELINE)}
    timeline = tuple(phases[p['phase']] for p in rec['phases'])
    starts_ns = [p['start_ns'] for p in rec['phases']]
    results, diags = read_events(out / 'events.jsonl')
    results, run.monitor_only, run.monitor_earlier = merge_monitor_log(
        results, out / 'frames.csv', deadline_ms=deadline_ms)
    analyse(run, timeline, starts_ns, rec['end_ns'], results, diags,
            kill_ns=rec['kill_ns'], restart_ns=rec['restart_ns'], energy=energy)
    if rec['restart_ns'] is not None:
        active = [t for t in _log_times(out / 'edge_node.log', ']: active')
                  if t > rec['restart_ns']]
        run.restart_to_active_ms = (active[0] - rec['restart_ns']) / 1e6 if active else math.nan
    summary = out / 'summary.json'
    if summary.exists():
        run.monitor_measured = read_summary(summary).frames_delivered


def _log_times(path: Path, needle: str) -> list[int]:
    """Wall-clock stamps (ns) of a node log's lines that contain ``needle``
    (rclpy's format: ``[INFO] [<seconds>] [<node>]: <text>``)."""
    times = []
    for line in path.read_text(errors='replace').splitlines() if path.exists() else []:
        parts = line.split('] [', 2)
        if needle in line and len(parts) == 3:
            try:
                times.append(int(float(parts[1]) * 1e9))
            except ValueError:
                continue
    return times


# -- output ---------------------------------------------------------------------
def format_run(run: ConfigRun, *, deadline_ms: float, rate_hz: float, energy_label: str) -> str:
    """One configuration's per-phase table and its checks, as Markdown."""
    lines = [f'### {run.config}' + ('' if run.status == 'ok' else f' ({run.status})'), '',
             '| phase | link | frames | edge | fallback | local | dropped | e2e p50 ms | '
             f'p95 ms | bytes/frame | energy J/frame ({energy_label}) | results by mode |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for st in run.phases:
        drops = sum(st.dropped.values())
        why = ', '.join(f'{k.removeprefix("dropped_")} {n}' for k, n in st.dropped.items())
        modes = ', '.join(f'{m} {n}' for m, n in sorted(st.modes.items()))
        lines.append(
            f'| {st.name} | {st.profile} | {st.frames} | {st.answered[ANSWERED_EDGE]} | '
            f'{st.answered[ANSWERED_FALLBACK]} | {st.answered[ANSWERED_LOCAL]} | '
            f'{drops}{f" ({why})" if why else ""} | {_f(st.e2e_ms["p50"], ".1f")} | '
            f'{_f(st.e2e_ms["p95"], ".1f")} | {_f(st.bytes_per_frame, ",.0f")} | '
            f'{_f(st.energy_j_per_frame, ".3f")} | {modes} |')
    lines.append(f'| whole timeline | | {sum(s.frames for s in run.phases)} | | | | | '
                 f'{_f(run.e2e_ms.get("p50", math.nan), ".1f")} | '
                 f'{_f(run.e2e_ms.get("p95", math.nan), ".1f")} | | | |')
    lines.append('')
    outcomes = ', '.join(f'{k.removeprefix("answered_").removeprefix("dropped_")} {v}'
                         for k, v in run.outcomes.items() if v)
    recorded = sum(run.recorded.values())
    answered = sum(run.outcomes.get(k, 0)
                   for k in (ANSWERED_EDGE, ANSWERED_FALLBACK, ANSWERED_LOCAL))
    lines.append(f'account: {run.captured} frames captured, {run.rejected} rejected, '
                 f'{run.sent} sent = outcomes {sum(run.outcomes.values())} ({outcomes}), '
                 f'{run.in_flight} in flight at the end; results recorded for {recorded} '
                 f'frames (camera: {answered} answered); the monitor measured '
                 f'{run.monitor_measured}' + (
                     f'; {run.monitor_only} of those frames\' results only in the monitor\'s '
                     'log (the recorder had not matched their publisher yet)'
                     if run.monitor_only else '') + (
                     f'; {run.monitor_earlier} edge results\' arrival taken from the monitor\'s '
                     'log (the recorder got them after their deadline)'
                     if run.monitor_earlier else ''))
    lines.append(f'unexplained losses: {run.unexplained}')
    if run.config != 'local':
        bound = deadline_ms + 1000.0 / rate_hz
        if math.isfinite(run.kill_to_robot_ms):
            verdict = 'ok' if run.kill_to_robot_ms <= bound else 'LATER than'
            how = (f'deadline {deadline_ms:g} ms; the fallback starts the robot\'s '
                   'answer time before it'
                   if run.kill_robot_mode == FALLBACK_MODE
                   else 'already in local mode: no deadline to wait for')
            lines.append(f'edge killed -> first result answered on the robot '
                         f'({run.kill_robot_mode}): {run.kill_to_robot_ms:.0f} ms ({verdict} '
                         f'deadline + one frame period = {bound:.0f} ms): that frame was '
                         f'captured {run.kill_robot_capture_ms:+.0f} ms from the kill, its '
                         f'result came {run.kill_robot_e2e_ms:.0f} ms after its capture ({how}); '
                         f'longest time without a result in that phase: '
                         f'{_f(run.kill_gap_ms, ".0f")} ms')
        if any(p.edge == EDGE_RESTART for p in run.phases):
            what = 'edge-answered result' if run.config == 'adaptive' else \
                f'edge-answered {CONFIGS[run.config]["mode"]} result'
            if math.isfinite(run.restart_to_edge_ms):
                verdict = 'ok' if run.restart_to_edge_ms <= RESTART_BOUND_S * 1e3 else 'LATER than'
                lines.append(f'edge restarted -> first {what}: {run.restart_to_edge_ms:.0f} ms '
                             f'({run.restart_edge_mode}; {verdict} {RESTART_BOUND_S:g} s), '
                             f'of which the edge node\'s start-up (process start to its '
                             f'"active" log line) {_f(run.restart_to_active_ms, ".0f")} ms')
            else:
                lines.append(f'edge restarted -> first {what}: none')
    return '\n'.join(lines)


def pool_rounds(rounds: list[dict[str, ConfigRun]]) -> dict[str, ConfigRun]:
    """Each configuration's frames of all ``rounds`` as one run: per phase and over
    the timeline, e2e percentiles of every round's frames together; frames by mode
    summed; bytes and energy per frame averaged over the frames. One run's robot
    speed is set partly by the run (identical local frames differed by up to 45 %
    between runs minutes apart): rounds interleaved and pooled compare the
    configurations over the same stretch of time."""
    pooled: dict[str, ConfigRun] = {}
    for config in dict.fromkeys(c for r in rounds for c in r):
        runs = [r[config] for r in rounds if config in r and r[config].phases]
        if not runs:
            continue
        width = min(len(r.phases) for r in runs)
        frames: list[list[float]] = [[] for _ in range(width)]
        for run in runs:
            for t, e2e, _mode in run.series:
                i = bisect.bisect_right(run.boundaries_s, t)
                if i < width:
                    frames[i].append(e2e)
        out = ConfigRun(config, status=', '.join(sorted({r.status for r in runs})))
        for i in range(width):
            each = [r.phases[i] for r in runs]
            st = PhaseStats(each[0].name, each[0].profile, each[0].edge,
                            sum(e.duration_s for e in each))
            for e in each:
                for key, target in ((e.answered, st.answered), (e.dropped, st.dropped),
                                    (e.modes, st.modes)):
                    for k, n in key.items():
                        target[k] = target.get(k, 0) + n
            st.e2e_ms = percentiles(frames[i], (50, 95))
            n = [sum(e.modes.values()) for e in each]
            if sum(n):
                def per_frame(attr: str) -> float:
                    return sum(getattr(e, attr) * k for e, k in zip(each, n) if k) / sum(n)
                st.bytes_per_frame = per_frame('bytes_per_frame')
                st.energy_j_per_frame = per_frame('energy_j_per_frame')
            out.phases.append(st)
        out.e2e_ms = percentiles([e for f in frames for e in f], (50, 95))
        pooled[config] = out
    return pooled


def format_comparison(runs: dict[str, ConfigRun], title: str = COMPARISON) -> str:
    """Adaptive vs the fixed modes: p50 per phase, p95 over the timeline."""
    ad = runs.get('adaptive')
    fixed = [runs[c] for c in FIXED if c in runs]
    if ad is None or not fixed or not ad.phases:
        return ''
    lines = [f'### {title}', '',
             '| phase | ' + ' | '.join(f'{r.config} p50 ms' for r in fixed)
             + ' | best fixed | adaptive p50 ms | adaptive / best | within 10 % |',
             '|---|' + '---:|' * len(fixed) + '---|---:|---:|---|']
    met = []
    for i, st in enumerate(ad.phases):
        p50s = {r.config: r.phases[i].e2e_ms['p50'] for r in fixed if i < len(r.phases)}
        finite = {c: v for c, v in p50s.items() if math.isfinite(v)}
        best = min(finite, key=finite.get) if finite else ''
        ratio = st.e2e_ms['p50'] / finite[best] if best else math.nan
        ok = math.isfinite(ratio) and ratio <= 1.10
        met.append(ok)
        lines.append(f'| {st.name} | ' + ' | '.join(_f(p50s.get(r.config, math.nan), '.1f')
                                                    for r in fixed)
                     + f' | {best} | {_f(st.e2e_ms["p50"], ".1f")} | {_f(ratio, ".2f")} | '
                     f'{"yes" if ok else "NO"} |')
    lines += ['', '| whole timeline | ' + ' | '.join(f'{r.config}' for r in fixed)
              + ' | adaptive |', '|---|' + '---:|' * (len(fixed) + 1),
              '| e2e p95 ms | ' + ' | '.join(_f(r.e2e_ms.get('p95', math.nan), '.1f')
                                            for r in fixed)
              + f' | {_f(ad.e2e_ms.get("p95", math.nan), ".1f")} |', '']
    beats = [r.config for r in fixed
             if ad.e2e_ms.get('p95', math.nan) < r.e2e_ms.get('p95', math.nan)]
    lines.append(f'adaptive p50 within 10 % of the best fixed mode: {sum(met)} of {len(met)} '
                 'phases' + ('' if all(met) else ' (NOT all)'))
    lines.append(f'adaptive whole-timeline p95 lower than: {", ".join(beats) or "none"}'
                 + ('' if len(beats) == len(fixed) else
                    f' (NOT lower than {", ".join(r.config for r in fixed if r.config not in beats)})'))
    return '\n'.join(lines)


def format_split_vs_local(runs: dict[str, ConfigRun], label: str = '') -> str:
    """Phase 1 (the first): split vs local as the paper states it."""
    s, loc = runs.get('split'), runs.get('local')
    if not (s and loc and s.phases and loc.phases):
        return ''
    a, b = s.phases[0], loc.phases[0]
    lat = reduction(b.e2e_ms['p50'], a.e2e_ms['p50'])
    en = reduction(b.energy_j_per_frame, a.energy_j_per_frame)
    return (f'{label}phase {a.name}: split vs local: latency (e2e p50) reduced by '
            f'{_f(lat, "+.1f")} %, '
            f'energy per frame reduced by {_f(en, "+.1f")} % (estimated; negative = split '
            'is worse)')


MODE_COLOURS = {'local': 'C0', 'split': 'C1', 'offload': 'C2', FALLBACK_MODE: 'C3'}


def write_html(runs: dict[str, ConfigRun], path: Path, *, header: str, text: str) -> None:
    """The report: latency over time by mode per configuration, per-phase bars."""
    import html as _html
    figures = []
    for label, run in runs.items():
        if not run.series:
            continue

        def over_time(ax, run=run, label=label) -> None:
            for mode, colour in MODE_COLOURS.items():
                pts = [(t, e) for t, e, m in run.series if m == mode]
                if pts:
                    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=5, color=colour,
                               label=f'{mode} ({len(pts)})')
            for b in run.boundaries_s:
                ax.axvline(b, color='grey', lw=0.8, ls='--')
            ax.set_yscale('log')
            ax.set(xlabel='capture time since the timeline started (s)',
                   ylabel='end-to-end latency (ms)',
                   title=f'{label}: e2e latency by result mode; dashed: phase starts')
            ax.legend(fontsize='small', loc='upper left')
        figures.append(figure_html(
            f'{label}: each answered frame\'s end-to-end latency, coloured by the mode '
            'that answered it (fallback = the robot after a missed deadline or while the edge '
            'is lost).', png_base64(over_time)))
    phases = next((r.phases for r in runs.values() if r.phases), [])

    def bars(ax, q: str) -> None:
        n = len(runs)
        width = 0.8 / max(1, n)
        for j, (label, run) in enumerate(runs.items()):
            xs = [i + (j - (n - 1) / 2) * width for i in range(len(run.phases))]
            ax.bar(xs, [p.e2e_ms[q] for p in run.phases], width, label=label,
                   color=f'C{j}')
        ax.set_xticks(range(len(phases)), [p.name for p in phases], fontsize='small')
        ax.set_yscale('log')
        ax.set(ylabel=f'e2e {q} (ms)', title=f'e2e latency {q} per phase and configuration')
        ax.legend(fontsize='small')
    for q in ('p50', 'p95'):
        figures.append(figure_html(f'Per-phase end-to-end latency {q} (log scale).',
                                   png_base64(lambda ax, q=q: bars(ax, q))))
    body = (f'<pre>{_html.escape(header)}</pre>\n<h2>Plots</h2>\n' + '\n'.join(figures)
            + f'\n<h2>Tables</h2>\n<pre>{_html.escape(text)}</pre>')
    path.write_text(html_page('BottleFit scenario rehearsal', body), encoding='utf-8')


def round_dirs(out: Path) -> list[Path]:
    """The folders of a recording's rounds: ``round1``, ``round2``, ... with
    ``--repeat``, else ``out`` itself."""
    rounds = sorted((d for d in out.glob('round*') if d.is_dir() and d.name[5:].isdigit()),
                    key=lambda d: int(d.name[5:]))
    return rounds or [out]


def summarise(rounds: list[dict[str, ConfigRun]]) -> list[str]:
    """The comparisons: of each round, and with more than one, of all pooled."""
    texts = []
    for k, runs in enumerate(rounds):
        title = COMPARISON + (f', round {k + 1}' if len(rounds) > 1 else '')
        label = f'round {k + 1}: ' if len(rounds) > 1 else ''
        texts += [format_comparison(runs, title), format_split_vs_local(runs, label)]
    if len(rounds) > 1:
        pooled = pool_rounds(rounds)
        texts += [format_comparison(pooled, f'{COMPARISON}, the {len(rounds)} rounds pooled'),
                  format_split_vs_local(pooled, f'{len(rounds)} rounds pooled: ')]
    return [t for t in texts if t]


def reanalyse(out: Path, configs: list[str], *, deadline_ms: float, rate_hz: float) -> int:
    """Print the tables of a recorded run from its folder (:func:`main`'s ``--analyse``)."""
    energy = FrameEnergyMeter('estimate')
    rounds: list[dict[str, ConfigRun]] = []
    for folder in round_dirs(out):
        runs: dict[str, ConfigRun] = {}
        for c in [c for c in (configs or CONFIGS) if (folder / c / 'timeline.json').exists()]:
            runs[c] = ConfigRun(c, out_dir=str(folder / c))
            analyse_recording(runs[c], folder / c, energy, deadline_ms=deadline_ms)
            print(format_run(runs[c], deadline_ms=deadline_ms, rate_hz=rate_hz,
                             energy_label='estimated') + '\n')
        if runs:
            rounds.append(runs)
    if not rounds:
        print(f'scenario_rehearsal: no configuration recorded in {out}', file=sys.stderr)
        return 2
    for t in summarise(rounds):
        print(t + '\n')
    return 0 if all(r.unexplained == 0 for runs in rounds for r in runs.values()) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--configs', default='', help=f'comma-separated, from {", ".join(CONFIGS)} '
                    '(default: all; --short: split,adaptive)')
    ap.add_argument('--phase-s', type=float, default=0.0,
                    help='seconds per phase (default 60; --short: 8)')
    ap.add_argument('--rate-hz', type=float, default=5.0, help='camera rate (default 5)')
    ap.add_argument('--deadline-ms', type=float, default=DEADLINE_MS,
                    help=f'camera deadline_ms for every configuration (default {DEADLINE_MS:g})')
    ap.add_argument('--robot-cpu', type=float, default=0.25,
                    help='CPU budget of the robot\'s processes, in cores (default 0.25); '
                    '0 = unthrottled')
    ap.add_argument('--backend', choices=('torch', 'onnxruntime'), default='',
                    help="camera's and edge's backend (default: the packaged parameter file's, "
                    'torch); onnxruntime is the robot runtime without PyTorch')
    ap.add_argument('--domain', type=int, default=-1,
                    help='ROS_DOMAIN_ID of the runs (default: random in 102..232 per run)')
    ap.add_argument('--startup-s', type=float, default=120.0,
                    help='per run: time for the nodes to start and match (default 120)')
    ap.add_argument('--repeat', type=int, default=1,
                    help='rounds of all the configurations, one after another, each round '
                    'starting one configuration later (default 1; folders round1, round2, ...); '
                    'with more than one, each configuration\'s frames of all rounds are also '
                    'compared together')
    ap.add_argument('--short', action='store_true',
                    help='test form: 2 phases (wifi_good; edge killed on wifi_poor) of 8 s')
    ap.add_argument('--out-dir', default='', help='per run: events, logs, CSVs; report.html '
                    'and results.json (default: a temp dir)')
    ap.add_argument('--analyse', metavar='DIR', default='',
                    help="run nothing: analyse again a run's --out-dir (each configuration's "
                    'folder in it) and print its tables')
    a = ap.parse_args(argv)
    if a.analyse:
        return reanalyse(Path(a.analyse), [c for c in a.configs.split(',') if c],
                         deadline_ms=a.deadline_ms, rate_hz=a.rate_hz)
    timeline = SHORT_TIMELINE if a.short else TIMELINE
    configs = [c for c in a.configs.split(',') if c] or (['split', 'adaptive'] if a.short
                                                        else list(CONFIGS))
    for c in configs:
        if c not in CONFIGS:
            ap.error(f'unknown configuration {c!r}; known: {", ".join(CONFIGS)}')
    phase_s = a.phase_s or (8.0 if a.short else 60.0)
    if phase_s <= 0 or a.rate_hz <= 0 or a.deadline_ms <= 0 or a.robot_cpu < 0 \
            or a.repeat < 1:
        ap.error('--phase-s, --rate-hz and --deadline-ms must be positive, --robot-cpu >= 0, '
                 '--repeat >= 1')
    why = netns_available()
    if why:
        print(f'scenario_rehearsal: cannot emulate the link: {why}', file=sys.stderr)
        return 2
    why = cpu_quota_available() if a.robot_cpu > 0 else ''
    if why:
        print(f'scenario_rehearsal: cannot throttle the robot ({why}); use --robot-cpu 0',
              file=sys.stderr)
        return 2
    robot = 'robot unthrottled'
    if a.robot_cpu > 0:
        with CpuQuota(a.robot_cpu) as probe:
            robot = probe.describe()
    install_signal_cleanup()
    out = Path(a.out_dir or tempfile.mkdtemp(prefix='bottlefit_scenario_'))
    out.mkdir(parents=True, exist_ok=True)
    energy = FrameEnergyMeter('estimate')
    energy_label = 'estimated'
    steps = ' -> '.join(f'{p.name} [{p.profile}, edge {p.edge}]' for p in timeline)
    header = (f'# scenario rehearsal: {len(timeline)} phases of {phase_s:g} s: {steps}\n'
              f'# configurations {", ".join(configs)}'
              + (f', {a.repeat} rounds of them one after another' if a.repeat > 1 else '')
              + '; camera: sample photos looped at '
              f'{a.rate_hz:g} Hz, {round(len(timeline) * phase_s * a.rate_hz)} frames per run, '
              f'deadline_ms {a.deadline_ms:g} with the local fallback (every configuration)\n'
              f'# robot = camera + monitor on CPU 0, edge on CPU 1; {robot}; backend '
              f'{a.backend or "of the parameter file"}\n'
              f'# energy: {energy_label}, {energy.describe()}\n'
              f'# raw events, CSVs and node logs: {out}')
    print(header + '\n', flush=True)
    rounds: list[dict[str, ConfigRun]] = []
    try:
        for k in range(a.repeat):
            runs: dict[str, ConfigRun] = {}
            rounds.append(runs)
            folder = out if a.repeat == 1 else out / f'round{k + 1}'
            # Each round starts one configuration later: none always runs first.
            for c in configs[k % len(configs):] + configs[:k % len(configs)]:
                label = c if a.repeat == 1 else f'{c}, round {k + 1} of {a.repeat}'
                print(f'[scenario] {label} ...', flush=True)
                runs[c] = run_config(c, timeline, phase_s=phase_s, rate_hz=a.rate_hz,
                                     deadline_ms=a.deadline_ms, out=folder / c,
                                     params_file=default_params_file(), robot_cpu=a.robot_cpu,
                                     domain=None if a.domain < 0 else a.domain, energy=energy,
                                     startup_s=a.startup_s, backend=a.backend)
                print('\n' + format_run(runs[c], deadline_ms=a.deadline_ms, rate_hz=a.rate_hz,
                                        energy_label=energy_label) + '\n', flush=True)
                (out / 'results.json').write_text(json.dumps(
                    [{**({'round': n + 1} if a.repeat > 1 else {}),
                      **{key: v for key, v in asdict(r).items() if key != 'series'}}
                     for n, done in enumerate(rounds) for r in done.values()], indent=2))
    except (NetnsError, CpuQuotaError) as exc:
        print(f'scenario_rehearsal: cannot emulate the link: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'\nscenario_rehearsal: interrupted; partial output in {out}', file=sys.stderr)
        return 130
    summary = summarise(rounds)
    tables = '\n\n'.join(format_run(r, deadline_ms=a.deadline_ms, rate_hz=a.rate_hz,
                                     energy_label=energy_label)
                          for runs in rounds for r in runs.values())
    text = '\n\n'.join(t for t in (tables, *summary) if t)
    for t in summary:
        print(t + '\n', flush=True)
    print(robot)
    labelled = {(c if a.repeat == 1 else f'{c} r{n + 1}'): r
                for n, runs in enumerate(rounds) for c, r in runs.items()}
    write_html(labelled, out / 'report.html', header=header, text=text)
    print(f'report: {out / "report.html"}; raw events, logs and results.json in {out}')
    ok = all(r.status == 'ok' and r.unexplained == 0 for runs in rounds for r in runs.values())
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
