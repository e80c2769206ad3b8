"""Replay the adaptive policy on a recorded scenario rehearsal (ROS-free).

For each phase in which the edge was up throughout, the policy
(:class:`bottlefit_ros.policy.ModePolicy`, with the adaptive configuration's
settings) chooses a mode per frame; frame ``i`` of the phase is then answered as
frame ``i`` of that mode's fixed run was (its result, or its fallback at the
deadline), and observed as the camera's guard observes it. As the guard does,
``edge_lost_after`` misses in a row declare the edge lost: the next frame is
local, and the edge is back after it (the recorded edge kept answering; live,
the late result of a missed frame says so). The adaptive / best fixed p50 this
gives has no live noise: every mode's frames come from the same runs. Used for
``docs/scenario-rehearsal.md``::

    python -P benchmarks/policy_replay.py /tmp/s12_rec
"""
from __future__ import annotations

import argparse
import bisect
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

from bottlefit_ros.deployment import FALLBACK_MODE
from bottlefit_ros.inflight import EdgeLiveness
from bottlefit_ros.metrics import percentiles
from bottlefit_ros.policy import ModePolicy, Observation, PolicyConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenario_rehearsal import (DEADLINE_MS, FIXED, answers_from_results,  # noqa: E402
                                merge_monitor_log, read_events)


def phase_frames(run_dir: Path, *, deadline_ms: float = DEADLINE_MS
                 ) -> tuple[list[str], list[bool], list[list[dict]]]:
    """A fixed run's phase names, whether the edge was up all through each, and
    per phase the result that answered each frame (as the camera counts it, the
    monitor's log completing the recorder's: :func:`merge_monitor_log`), in
    capture order."""
    timeline = json.loads((run_dir / 'timeline.json').read_text(encoding='utf-8'))
    starts = [p['start_ns'] for p in timeline['phases']]
    results, _ = read_events(run_dir / 'events.jsonl')
    results, _, _ = merge_monitor_log(results, run_dir / 'frames.csv', deadline_ms=deadline_ms)
    by_key = {(r['stamp_ns'], r['frame_id'], r['mode']): r for r in results}
    frames: list[list[dict]] = [[] for _ in starts]
    for a in answers_from_results(results):
        i = bisect.bisect_right(starts, a.stamp_ns) - 1
        if i >= 0:
            frames[i].append(next(r for k, r in by_key.items()
                                  if k[0] == a.stamp_ns and k[2] == a.mode))
    return ([p['phase'] for p in timeline['phases']],
            [p['edge'] == 'up' for p in timeline['phases']], frames)


def observation(result: dict, mode: str) -> tuple[Observation, float]:
    """What the camera's guard observes of ``mode`` from one recorded result, and
    the frame's e2e latency (ms). A fallback is a miss: only its total is known."""
    e2e = (result['arrival_ns'] - result['stamp_ns']) / 1e6
    robot = result['preprocess_ms'] + result['head_ms'] + result['encode_ms']
    if mode == 'local':
        return Observation('local', robot, transport_ms=max(0.0, e2e - robot)), e2e
    if result['mode'] == FALLBACK_MODE:
        return Observation(mode, 0.0, 0.0, int(result['payload_bytes']), e2e, missed=True), e2e
    edge = result['decode_ms'] + result['tail_ms']
    return Observation(mode, robot, edge, int(result['payload_bytes']),
                       max(0.0, e2e - robot - edge)), e2e


def replay(rec_dir: Path, config: PolicyConfig, initial: str = 'split', *,
           lost_after: int = 3) -> list[dict]:
    """One row per edge-up phase: the fixed runs' p50s, the replayed p50, its
    ratio to the best, the frames per mode the policy used, and the times
    ``lost_after`` misses in a row declared the edge lost (0: never)."""
    runs = {m: phase_frames(rec_dir / m) for m in FIXED}
    names, edge_up, _ = runs['split']
    policy = ModePolicy(config, initial=initial)
    rows = []
    for p, name in enumerate(names):
        if not edge_up[p]:
            continue
        n = min(len(runs[m][2][p]) for m in FIXED)
        latencies, used = [], Counter()
        losses = 0
        # The guard's own rule (the recorded edge stays matched throughout).
        edge = EdgeLiveness(lost_after=lost_after) if lost_after else None
        if edge is not None:
            edge.update_matched(1)
        for i in range(n):
            lost = edge is not None and not edge.alive
            if lost:
                policy.set_edge_available(False)
                losses += 1
            mode = policy.choose().mode
            obs, e2e = observation(runs[mode][2][p][i], mode)
            policy.observe(obs)
            if lost:
                policy.edge_returned()
            if edge is not None and obs.missed:
                edge.missed()
            elif edge is not None:
                edge.answered()
            latencies.append(e2e)
            used[mode] += 1
        fixed_e2e = {m: [(r['arrival_ns'] - r['stamp_ns']) / 1e6 for r in runs[m][2][p][:n]]
                     for m in FIXED}
        fixed = {m: statistics.median(v) for m, v in fixed_e2e.items()}
        best = min(fixed, key=fixed.get)
        p50 = statistics.median(latencies)
        rows.append({'phase': name, 'frames': n, 'fixed_p50_ms': fixed, 'best': best,
                     'p50_ms': p50, 'ratio': p50 / fixed[best], 'used': dict(used),
                     'losses': losses,
                     'e2e_ms': latencies, 'fixed_e2e_ms': fixed_e2e})
    return rows


def p95_together(rows: list[dict]) -> tuple[float, dict[str, float]]:
    """p95 of the replayed frames of all ``rows`` together, and of each fixed run's."""
    def p95(values: list[float]) -> float:
        return percentiles(values, (95,))['p95']
    return (p95([e for r in rows for e in r['e2e_ms']]),
            {m: p95([e for r in rows for e in r['fixed_e2e_ms'][m]]) for m in FIXED})


def slow_frames(rows: list[dict], slow_ms: float) -> tuple[int, dict[str, int]]:
    """Frames of ``rows`` answered in ``slow_ms`` or more: replayed, and each fixed run's
    (the whole-timeline p95 is decided by how many such frames a configuration has)."""
    return (sum(e >= slow_ms for r in rows for e in r['e2e_ms']),
            {m: sum(e >= slow_ms for r in rows for e in r['fixed_e2e_ms'][m]) for m in FIXED})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('rec_dir', type=Path, help='a scenario_rehearsal.py --out-dir with the '
                    'local, split and offload runs')
    ap.add_argument('--rate-hz', type=float, default=5.0, help='the run\'s camera rate')
    ap.add_argument('--probe-every', type=int, default=50, help='adaptive_probe_every')
    ap.add_argument('--slow-ms', type=float, default=150.0,
                    help='count the frames answered in this many ms or more')
    ap.add_argument('--lost-after', type=int, default=3,
                    help='edge_lost_after: misses in a row that declare the edge lost (0: never)')
    a = ap.parse_args(argv)
    missing = [m for m in FIXED if not (a.rec_dir / m / 'events.jsonl').exists()]
    if missing:
        print(f'policy_replay: no recorded {", ".join(missing)} run in {a.rec_dir}',
              file=sys.stderr)
        return 2
    rows = replay(a.rec_dir, PolicyConfig(frame_rate_hz=a.rate_hz, probe_every=a.probe_every),
                  lost_after=a.lost_after)
    print('| phase | frames | ' + ' | '.join(f'{m} p50 ms' for m in FIXED)
          + ' | best fixed | replayed p50 ms | / best | frames by mode | edge lost |')
    print('|---|---:|' + '---:|' * len(FIXED) + '---|---:|---:|---|---:|')
    for r in rows:
        used = ', '.join(f'{m} {k}' for m, k in sorted(r['used'].items()))
        print(f"| {r['phase']} | {r['frames']} | "
              + ' | '.join(f"{r['fixed_p50_ms'][m]:.1f}" for m in FIXED)
              + f" | {r['best']} | {r['p50_ms']:.1f} | {r['ratio']:.3f} | {used} "
              f"| {r['losses']} |")
    if rows:
        replayed, fixed = p95_together(rows)
        print(f'\nthese phases together: replayed p95 {replayed:.1f} ms; fixed '
              + ', '.join(f'{m} {v:.1f}' for m, v in fixed.items()))
        slow, fixed_slow = slow_frames(rows, a.slow_ms)
        print(f'frames of {a.slow_ms:g} ms or more: replayed {slow}; fixed '
              + ', '.join(f'{m} {v}' for m, v in fixed_slow.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
