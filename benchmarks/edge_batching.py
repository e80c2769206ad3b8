#!/usr/bin/env python3
"""Many robots, one edge GPU: throughput and latency of the edge against batch size.

ROS-free (bottlefit_ros.batching over the runtime's EdgeRunner). Frames are real: the
sample photos (and crops and mirrors of them) through the robot's head and the q8+zstd
codec of the default split model, encoded once before timing. Then, on the edge device:

1. check: every frame classified in batches gives the labels and scores it gets alone;
2. capacity: batches of B frames back to back (decode of each frame + one network run +
   top-k per frame): frames/s and the time of one batch, per B;
3. robots: N simulated robots, each sending at R Hz (random phases), into an
   EdgeBatcher (max batch B, window W ms, newest frame per robot wins) served by a
   BatchWorker thread: served frames/s, frames superseded, mean batch, latency from
   arrival to result (window wait, decode and network) p50/p95/p99.

Batches are padded to powers of two (EdgeBatcher's default) and every such shape is run
once before timing (EdgeBatcher.warmup).

    python benchmarks/edge_batching.py --device cuda --robots 32,64 --rate 30 \
        --batch-sizes 1,2,4,8,16,32,64 --windows 2,5 --seconds 3 --json out.json
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import threading
import time

import numpy as np

from bottlefit_ros.batching import BatchResult, BatchWorker, EdgeBatcher
from bottlefit_ros.runtime import EdgeRunner, ModelSpec, RobotRunner
from bottlefit_ros.sources import FolderSource, frames


def _views(rgb: np.ndarray) -> list[np.ndarray]:
    """The photo, its mirror, and the mirrored pair of its four 70 % corner crops."""
    h, w = rgb.shape[:2]
    ch, cw = int(h * 0.7), int(w * 0.7)
    crops = [rgb, rgb[:ch, :cw], rgb[:ch, w - cw:], rgb[h - ch:, :cw], rgb[h - ch:, w - cw:]]
    return [np.ascontiguousarray(v) for c in crops for v in (c, c[:, ::-1])]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float('nan')


def check_identical(edge: EdgeRunner, encoded: list, batch: int) -> dict:
    """Batched results against one frame at a time: labels equal, largest score difference."""
    single = [edge.process(e).result for e in encoded]
    b = EdgeBatcher(edge, max_batch=batch, newest_only=False)
    batched = []
    for start in range(0, len(encoded), batch):
        for i, e in enumerate(encoded[start:start + batch]):
            b.submit(i, e)
        batched += [r.output.result for r in b.run_batch()]
    same = sum(s.class_ids == r.class_ids for s, r in zip(single, batched))
    diff = max(float(np.max(np.abs(np.subtract(s.scores, r.scores))))
               for s, r in zip(single, batched))
    return {'frames': len(single), 'batch': batch, 'same_topk': same,
            'same_top1': sum(s.class_ids[0] == r.class_ids[0] for s, r in zip(single, batched)),
            'max_score_diff': diff}


def capacity(edge: EdgeRunner, encoded: list, batch: int, seconds: float) -> dict:
    """Full batches back to back: frames/s and batch times (decode + network + top-k)."""
    b = EdgeBatcher(edge, max_batch=batch, newest_only=False)
    b.warmup()
    n = len(encoded)

    def one(k: int) -> float:
        t0 = time.perf_counter_ns()
        for i in range(batch):
            b.submit(i, encoded[(k * batch + i) % n])
        out = b.run_batch()
        assert len(out) == batch and all(r.output is not None for r in out)
        return (time.perf_counter_ns() - t0) / 1e6

    for k in range(3):
        one(k)
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 5:
        times.append(one(len(times)))
    total_s = sum(times) / 1e3
    return {'batch': batch, 'batches': len(times), 'frames_per_s': batch * len(times) / total_s,
            'batch_ms_p50': statistics.median(times), 'batch_ms_p95': _pct(times, 95),
            'frame_ms': sum(times) / (batch * len(times))}


def robots(edge: EdgeRunner, encoded: list, *, n_robots: int, rate_hz: float, batch: int,
           window_ms: float, seconds: float, seed: int = 0) -> dict:
    """N robots at ``rate_hz`` each into a batcher served by a worker thread."""
    rng = random.Random(seed)
    b = EdgeBatcher(edge, max_batch=batch, max_wait_ms=window_ms, newest_only=True)
    b.warmup()
    results: list[BatchResult] = []
    lock = threading.Lock()

    def on_result(r: BatchResult) -> None:
        with lock:
            results.append(r)

    worker = BatchWorker(b, on_result).start()
    period_ns = int(1e9 / rate_hz)
    t0 = time.perf_counter_ns() + 50_000_000
    # every arrival of every robot, in time order: (time, robot, frame index)
    arrivals = sorted((t0 + int(rng.random() * period_ns) + k * period_ns, r, rng.randrange(
        len(encoded))) for r in range(n_robots) for k in range(int(seconds * rate_hz)))
    late: list[float] = []
    for when, robot, idx in arrivals:
        wait = when - time.perf_counter_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        late.append(max(0, -wait) / 1e6)
        # arrival = the scheduled time: a sender that falls behind adds to the latency
        worker.submit(f'robot{robot}', encoded[idx], tag=when, arrival_ns=when)
    worker.stop(drain=True)
    end = max(r.done_ns for r in results)
    span_s = (end - t0) / 1e9
    lat = [r.latency_ms for r in results if r.output is not None]
    errors = sum(r.error is not None for r in results)
    return {'robots': n_robots, 'rate_hz': rate_hz, 'batch': batch, 'window_ms': window_ms,
            'offered_fps': n_robots * rate_hz, 'sent': len(arrivals), 'served': len(lat),
            'errors': errors, 'superseded': b.dropped_superseded,
            'served_fps': len(lat) / span_s, 'mean_batch': b.frames / max(1, b.batches),
            'latency_ms_p50': _pct(lat, 50), 'latency_ms_p95': _pct(lat, 95),
            'latency_ms_p99': _pct(lat, 99), 'sender_late_ms_p99': _pct(late, 99)}


def _machine(device: str) -> str:
    parts = [platform.platform(), f'python {platform.python_version()}']
    try:
        import torch

        parts.append(f'torch {torch.__version__}')
        if device.startswith('cuda') and torch.cuda.is_available():
            parts.append(torch.cuda.get_device_name(torch.device(device)))
    except ImportError:
        pass
    return ', '.join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda', help='edge device (cuda, cuda:N, cpu)')
    p.add_argument('--backend', default='torch', help='edge backend (torch | onnxruntime)')
    p.add_argument('--weights', default='default', help="edge model weights ('default': packaged)")
    p.add_argument('--bottleneck-channels', type=int, default=ModelSpec().bottleneck_channels)
    p.add_argument('--batch-sizes', default='1,2,4,8,16,32,64')
    p.add_argument('--windows', default='5', help='comma-separated windows (max wait), ms')
    p.add_argument('--robots', default='64', help='comma-separated numbers of robots')
    p.add_argument('--rate', type=float, default=30.0, help='frames per second of each robot')
    p.add_argument('--seconds', type=float, default=3.0, help='per configuration')
    p.add_argument('--threads', type=int, default=0, help='edge CPU threads (0: default)')
    p.add_argument('--json', default='', help='write every measurement here')
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.batch_sizes.split(',') if s]
    windows = [float(w) for w in a.windows.split(',') if w]
    fleets = [int(n) for n in a.robots.split(',') if n]

    spec = ModelSpec(bottleneck_channels=a.bottleneck_channels, weights=a.weights)
    robot = RobotRunner(spec, mode='split', threads=a.threads)
    photos = [v for rgb in frames(FolderSource(loop=False)) for v in _views(rgb)]
    encoded = [robot.process(v).encoded for v in photos]
    nbytes = [len(e.payload) for e in encoded]
    edge = EdgeRunner(spec, device=a.device, backend=a.backend, threads=a.threads,
                      accept_offload=False)
    machine = _machine(a.device)
    print(f'machine: {machine}')
    print(f'model: {spec.model} C={spec.bottleneck_channels} backend={a.backend} '
          f'device={a.device}; {len(encoded)} frames (q8+zstd, {statistics.mean(nbytes):.0f} B '
          f'mean) from {len(photos) // 10} sample photos')
    out: dict = {'machine': machine, 'argv': sys.argv[1:], 'frames': len(encoded),
                 'bytes_mean': statistics.mean(nbytes)}

    warm = EdgeBatcher(edge, max_batch=max(sizes)).warmup()
    print(f'warm-up of batch shapes {EdgeBatcher(edge, max_batch=max(sizes)).buckets}: '
          f'{warm:.2f} s (again: {EdgeBatcher(edge, max_batch=max(sizes)).warmup():.3f} s)')
    out['warmup_s'] = warm
    out['check'] = [check_identical(edge, encoded, b) for b in (max(sizes), 7)]
    for c in out['check']:
        print(f"check batch {c['batch']}: top-k identical on {c['same_topk']}/{c['frames']}, "
              f"top-1 on {c['same_top1']}/{c['frames']}, largest score difference "
              f"{c['max_score_diff']:.2e}")

    out['capacity'] = [capacity(edge, encoded, b, a.seconds / 2) for b in sizes]
    base = out['capacity'][0]['frames_per_s']
    print('\ncapacity (full batches back to back)')
    print(f"{'batch':>5} {'frames/s':>9} {'x b=1':>6} {'batch p50 ms':>12} {'p95 ms':>7} "
          f"{'ms/frame':>8}")
    for c in out['capacity']:
        print(f"{c['batch']:>5} {c['frames_per_s']:>9.0f} {c['frames_per_s'] / base:>6.1f} "
              f"{c['batch_ms_p50']:>12.2f} {c['batch_ms_p95']:>7.2f} {c['frame_ms']:>8.3f}")

    out['robots'] = [robots(edge, encoded, n_robots=n, rate_hz=a.rate, batch=b, window_ms=w,
                            seconds=a.seconds) for n in fleets for w in windows for b in sizes]
    for n in fleets:
        print(f'\n{n} robots x {a.rate:g} Hz = {n * a.rate:.0f} frames/s offered; '
              'newest frame per robot wins')
        print(f"{'window':>6} {'batch':>5} {'served/s':>8} {'x b=1':>6} {'superseded':>10} "
              f"{'mean b':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'err':>3}")
        for w in windows:
            rows = [r for r in out['robots'] if r['window_ms'] == w and r['robots'] == n]
            first = rows[0]['served_fps']
            for r in rows:
                print(f"{w:>6g} {r['batch']:>5} {r['served_fps']:>8.0f} "
                      f"{r['served_fps'] / first:>6.1f} {r['superseded'] / r['sent']:>9.1%} "
                      f"{r['mean_batch']:>6.1f} {r['latency_ms_p50']:>7.2f} "
                      f"{r['latency_ms_p95']:>7.2f} {r['latency_ms_p99']:>7.2f} {r['errors']:>3}")
    late = sorted(r['sender_late_ms_p99'] for r in out['robots'])
    print(f'(simulated senders late at p99: median {late[len(late) // 2]:.2f} ms, worst '
          f'{late[-1]:.2f} ms; counted in the latency)')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
