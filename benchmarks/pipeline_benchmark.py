#!/usr/bin/env python3
"""Benchmark of the split pipeline, printed as tables (no assertions).

In one run, on the sample photos:
1. compute: head vs whole model, per frame (batch 1, this machine's CPU), on
   each backend: PyTorch eager and ONNX Runtime (CPU provider, the same threads),
   with the labels both give on every sample photo;
2. codec: encode/decode time and bytes per frame for the split bottleneck
   (q8+zstd, q8, f32), the JPEG image at q90 (offload mode), and the raw input;
3. transport: the node pipeline (camera -> edge -> monitor as processes)
   against a bare rclpy ping-pong pair in two processes sending the same
   payload size one way and a result-sized reply back;
4. rate: the pipeline at ``--rate-hz`` for ``--duration-s``, one thread per
   node, without and with ``--cpu-hog`` busy-loop processes beside it: frames
   sent, answered, lost by the reason a node counted, UNCOUNTED losses (sent -
   answered - counted), end-to-end p50/p95/p99 (also in frame periods).

    tools/with_env.sh python benchmarks/pipeline_benchmark.py [--frames 40]
    # issue 10's record runs: 30 Hz for 10 minutes, then with a CPU hog beside it
    tools/with_env.sh python benchmarks/pipeline_benchmark.py --sections rate \
        --rate-hz 30 --duration-s 600 --cpu-hog 0 --backend onnxruntime
    tools/with_env.sh python benchmarks/pipeline_benchmark.py --sections rate \
        --rate-hz 30 --duration-s 600 --cpu-hog 1 --backend onnxruntime

Every rclpy process runs with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST in one
ROS_DOMAIN_ID of its own.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from bottlefit_ros.codec import JpegCodec, TensorCodec
from bottlefit_ros.deployment import NodeSpec
from bottlefit_ros.framelog import read_frame_log
from bottlefit_ros.launcher import default_params_file, node_command, stop_processes
from bottlefit_ros.metrics import FrameRecord
from bottlefit_ros.models import Preprocessor
from bottlefit_ros.onnx_export import PARTS, export_split_model
from bottlefit_ros.onnx_runtime import OnnxPart
from bottlefit_ros.runtime import ModelSpec
from bottlefit_ros.sources import FolderSource, frames


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times), float(np.percentile(times, 95))


def _paired_median_ms(fn_a, fn_b, repeats: int) -> tuple[float, float, float]:
    """Medians of ``fn_a`` and ``fn_b`` timed alternately (a, b, a, b, ...), and the
    median of the per-pair ratios a/b: a machine whose speed drifts during the run
    (a shared VM) then slows both sides alike instead of whichever ran second."""
    ta, tb = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, ta), (fn_b, tb)):
            t0 = time.perf_counter_ns()
            fn()
            times.append((time.perf_counter_ns() - t0) / 1e6)
    return (statistics.median(ta), statistics.median(tb),
            statistics.median(a / b for a, b in zip(ta, tb)))


def cpu_description() -> str:
    """The CPU's model name and widest vector extension, from /proc/cpuinfo (Linux),
    so a recorded table says which CPU its ratios belong to."""
    try:
        info = Path('/proc/cpuinfo').read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(':', 1)[1].strip() for line in info.splitlines()
                 if line.startswith('model name')), platform.machine())
    flags = next((set(line.split(':', 1)[1].split()) for line in info.splitlines()
                  if line.startswith('flags')), set())
    vector = next((f for f in ('avx512f', 'avx2', 'avx', 'sse4_2') if f in flags), 'no AVX')
    return f'{name} ({vector}{", avx512_vnni" if "avx512_vnni" in flags else ""})'


def _ort_version() -> str:
    import onnxruntime
    return onnxruntime.__version__


def _label(spec: ModelSpec) -> str:
    return (f'BottleFit C={spec.bottleneck_channels}' if spec.bottleneck_channels
            else 'natural split')


def compute_table(specs: list[ModelSpec], photos: list[np.ndarray], repeats: int) -> list[str]:
    rows = ['| split model | head output | head params | preprocess p50 ms | '
            'head p50 ms (robot) | tail p50 ms (edge) | whole model p50 ms (local) |',
            '|---|---|---:|---:|---:|---:|---:|']
    for spec in specs:
        model = spec.build()
        pre = Preprocessor.for_model(model)
        x = pre(photos[0])
        with torch.inference_mode():
            for _ in range(3):
                model(x)
            z = model.head(x)
            times = [_median_ms(fn, repeats)[0] for fn in (
                lambda: pre(photos[0]), lambda: model.head(x), lambda: model.tail(z),
                lambda: model(x))]
        info = model.info
        rows.append(f'| {_label(spec)} ({info.split}) | {"x".join(map(str, info.head_output_shape))}'
                    f' | {info.head_params:,} | ' + ' | '.join(f'{t:.2f}' for t in times) + ' |')
    return rows


def backend_table(specs: list[ModelSpec], photos: list[np.ndarray], repeats: int,
                  threads: int) -> list[str]:
    """Head, tail and whole model on PyTorch eager vs ONNX Runtime, same threads,
    and whether the two give the same top-1 label on every photo."""
    rows = ['| split model | part | PyTorch p50 ms | ONNX Runtime p50 ms | speed-up (median of paired runs) | '
            'same top-1 on all photos |', '|---|---|---:|---:|---:|---|']
    for spec in specs:
        model = spec.build()
        with tempfile.TemporaryDirectory(prefix='bottlefit_onnx_') as tmp:
            paths = export_split_model(model, tmp)
            parts = {p: OnnxPart(paths[p], threads=threads) for p in PARTS}
            pre = parts['whole'].preprocessor()
            xs = [pre(p) for p in photos]
            with torch.inference_mode():
                torch_top1 = [int(model(torch.from_numpy(x)).argmax()) for x in xs]
                x, z = torch.from_numpy(xs[0]), model.head(torch.from_numpy(xs[0]))
                torch_fn = {'head': lambda: model.head(x), 'tail': lambda: model.tail(z),
                            'whole': lambda: model(x)}
                ort_top1 = [int(parts['whole'].run(x).argmax()) for x in xs]
                same = ort_top1 == torch_top1 and all(
                    int(parts['tail'].run(parts['head'].run(x)).argmax()) == t
                    for x, t in zip(xs, torch_top1))
                inputs = {'head': xs[0], 'tail': z.numpy(), 'whole': xs[0]}
                for part in PARTS:
                    def ort_fn(part: str = part) -> None:
                        parts[part].run(inputs[part])
                    for _ in range(3):
                        torch_fn[part]()
                        ort_fn()
                    torch_ms, ort_ms, ratio = _paired_median_ms(torch_fn[part], ort_fn, repeats)
                    rows.append(f'| {_label(spec)} | {part} | {torch_ms:.2f} | {ort_ms:.2f} | '
                                f'{ratio:.1f}x | {"yes" if same else "NO"} ({len(xs)} photos) |')
    return rows


def codec_table(specs: list[ModelSpec], photos: list[np.ndarray], repeats: int) -> list[str]:
    """Bytes and codec times per frame."""
    results: dict[str, tuple[float, float, float]] = {}
    jpeg = JpegCodec(90)
    size = Preprocessor.for_model(specs[0].model).size
    resized = [cv2.resize(p, (size[1], size[0]), interpolation=cv2.INTER_AREA) for p in photos]
    for name, imgs in (('JPEG q90, camera frame (offload mode)', photos),
                       (f'JPEG q90, {size[0]}x{size[1]} model input', resized)):
        blobs = [jpeg.encode(p) for p in imgs]
        enc = _median_ms(lambda: [jpeg.encode(p) for p in imgs], repeats)[0] / len(imgs)
        dec = _median_ms(lambda: [jpeg.decode(b) for b in blobs], repeats)[0] / len(imgs)
        results[name] = (float(np.mean([len(b) for b in blobs])), enc, dec)
    for spec in specs:
        model = spec.build()
        pre = Preprocessor.for_model(model)
        with torch.inference_mode():
            zs = [model.head(pre(p)).numpy() for p in photos]
        for codec_name in ('q8+zstd', 'q8', 'f32+zstd'):
            codec = TensorCodec(codec_name)
            encs = [codec.encode(z) for z in zs]
            enc = _median_ms(lambda: [codec.encode(z) for z in zs], repeats)[0] / len(zs)
            dec = _median_ms(lambda: [codec.decode(e) for e in encs], repeats)[0] / len(zs)
            nbytes = float(np.mean([len(e.payload) for e in encs]))
            results[f'{_label(spec)} bottleneck, {codec_name} (split mode)'] = (nbytes, enc, dec)
    results['raw RGB camera frame'] = (float(np.mean([p.nbytes for p in photos])), 0.0, 0.0)
    results[f'raw RGB {size[0]}x{size[1]} model input'] = (float(size[0] * size[1] * 3), 0.0, 0.0)
    jpeg_bytes = results['JPEG q90, camera frame (offload mode)'][0]
    rows = ['| payload | bytes/frame (mean) | vs JPEG q90 frame | encode p50 ms | decode p50 ms |',
            '|---|---:|---:|---:|---:|']
    for name, (nbytes, enc, dec) in results.items():
        rows.append(f'| {name} | {nbytes:,.0f} | {nbytes / jpeg_bytes:.2f}x | '
                    f'{enc:.3f} | {dec:.3f} |')
    return rows


def _pipeline(frames_n: int, out: Path, env: dict) -> list[FrameRecord]:
    """The packaged nodes and parameter file, bounded to ``frames_n`` frames."""
    log_path = out / 'frames.csv'
    specs = [('edge_node', {'num_threads': 1}),
             ('monitor_node', {'max_frames': frames_n, 'csv_path': str(log_path)}),
             ('camera_node', {'source': 'folder', 'max_frames': frames_n, 'rate_hz': 10.0,
                              'num_threads': 1})]
    procs: dict[str, subprocess.Popen] = {}
    for exe, extra in specs:
        cmd = node_command(NodeSpec(exe), params_file=default_params_file(), extra=extra)
        with (out / f'{exe}.log').open('w') as log:
            procs[exe] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        procs['monitor_node'].wait(timeout=240)
    finally:
        stop_processes(procs)
    return read_frame_log(log_path)


def transport_table(frames_n: int) -> list[str]:
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_DOMAIN_ID=os.environ.get('ROS_DOMAIN_ID', str(random.randint(1, 100))))
    out = Path(tempfile.mkdtemp(prefix='bottlefit_bench_'))
    rows = _pipeline(frames_n, out, env)
    transport = [r.transport_ms for r in rows]
    e2e = [r.e2e_ms for r in rows]
    payload = int(np.mean([r.payload_bytes for r in rows]))
    pong = subprocess.Popen([sys.executable, __file__, '--pong'], env=env)
    try:
        rtts = subprocess.run([sys.executable, __file__, '--ping', str(payload),
                               str(frames_n)], env=env, capture_output=True, text=True,
                              timeout=120, check=True).stdout.split()
    finally:
        pong.terminate()
        pong.wait()
    rtt = [float(v) for v in rtts]
    table = ['| path | payload B | frames | p50 ms | p95 ms |', '|---|---:|---:|---:|---:|',
             f'| node pipeline: transport (e2e minus compute) | {payload:,} | {len(rows)} | '
             f'{np.percentile(transport, 50):.2f} | {np.percentile(transport, 95):.2f} |',
             f'| node pipeline: end to end | {payload:,} | {len(rows)} | '
             f'{np.percentile(e2e, 50):.2f} | {np.percentile(e2e, 95):.2f} |',
             f'| bare rclpy ping-pong round trip (same payload out, 64 B back) | {payload:,} | '
             f'{len(rtt)} | {np.percentile(rtt, 50):.2f} | {np.percentile(rtt, 95):.2f} |']
    return table


# --- the pipeline at a frame rate, with and without CPU hogs -------------------
# Camera and edge counters that explain a frame sent but not answered, and the
# camera's capture periods skipped while busy (frames never captured, not lost).
EDGE_DROPS = ('dropped_replaced', 'frames_missed', 'dropped_inactive')
SETTLE_S = 3.0          # after the last frame: answers in flight, a last /diagnostics


class _Diagnostics:
    """The latest /diagnostics values of each node (by name), in this process."""

    def __init__(self, domain_id: str) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor

        os.environ.update(ROS_DOMAIN_ID=domain_id, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
        self._rclpy = rclpy
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('bench_diagnostics', context=self.context)
        self.latest: dict[str, dict[str, str]] = {}
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_diag(self, arr) -> None:
        for st in arr.status:
            self.latest[st.hardware_id] = {kv.key: kv.value for kv in st.values}

    def value(self, node: str, key: str) -> int:
        v = self.latest.get(node, {}).get(key, '')
        return int(v) if v.isdigit() else 0

    def spin_until(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if predicate():
                return True
        return predicate()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.shutdown(context=self.context)


def rate_run(rate_hz: float, duration_s: float, *, backend: str, hogs: int, threads: int,
             env: dict) -> dict:
    """The packaged nodes at ``rate_hz`` for ``duration_s`` (camera on the sample
    photos, looping), with ``hogs`` busy-loop processes running throughout; the
    counts and latencies of :func:`rate_table`."""
    out = Path(tempfile.mkdtemp(prefix='bottlefit_rate_'))
    frames_n = max(1, round(rate_hz * duration_s))
    compute = {'num_threads': threads, 'backend': backend, 'diagnostics_period_s': 0.5}
    specs = [('edge_node', compute),
             ('monitor_node', {'csv_path': str(out / 'frames.csv'),
                               'summary_path': str(out / 'summary.json')}),
             ('camera_node', {**compute, 'source': 'folder', 'loop': True,
                              'max_frames': frames_n, 'rate_hz': float(rate_hz)})]
    hog_procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
                 for _ in range(hogs)]
    procs: dict[str, subprocess.Popen] = {}
    diag = _Diagnostics(env['ROS_DOMAIN_ID'])
    try:
        for exe, extra in specs:
            cmd = node_command(NodeSpec(exe), params_file=default_params_file(), extra=extra)
            with (out / f'{exe}.log').open('w') as log:
                procs[exe] = subprocess.Popen(cmd, env=env, stdout=log,
                                              stderr=subprocess.STDOUT)
        sent = lambda: diag.value('camera_node', 'frames_sent')  # noqa: E731
        if not diag.spin_until(lambda: sent() > 0, 120):
            raise RuntimeError(f'no frame sent in 120 s; logs in {out}')
        diag.spin_until(lambda: sent() >= frames_n, duration_s * 3 + 60)
        accounted = lambda: (diag.value('edge_node', 'frames_in')  # noqa: E731
                             + sum(diag.value('edge_node', k) for k in EDGE_DROPS))
        diag.spin_until(lambda: accounted() >= sent(), SETTLE_S * 3)
        diag.spin_until(lambda: False, SETTLE_S)
        cam, edge = dict(diag.latest.get('camera_node', {})), dict(diag.latest.get('edge_node', {}))
    finally:
        stop_processes(procs)
        for h in hog_procs:
            h.kill()
            h.wait()
        diag.close()
    rows = read_frame_log(out / 'frames.csv')
    summary = json.loads((out / 'summary.json').read_text())
    as_int = lambda d, k: int(d.get(k, '0')) if d.get(k, '0').isdigit() else 0  # noqa: E731
    drops = {k: as_int(edge, k) for k in EDGE_DROPS}
    drops['rejected'] = sum(as_int(edge, k) for k in edge if k.startswith('rejected_'))
    e2e = np.array([r.e2e_ms for r in rows]) if rows else np.array([np.nan])
    answered = len({r.seq for r in rows})
    first, last = (min(rows, key=lambda r: r.seq), max(rows, key=lambda r: r.seq)) if rows \
        else (None, None)
    capture_s = (last.stamp_ns - first.stamp_ns) / 1e9 if rows else 0.0
    sent_n = as_int(cam, 'frames_sent')
    return {'backend': backend, 'hogs': hogs, 'rate_hz': rate_hz, 'duration_s': duration_s,
            'sent': sent_n, 'answered': answered, 'drops': drops,
            'uncounted': sent_n - answered - sum(drops.values()),
            'monitor_lost': summary.get('frames_lost'),
            'monitor_uncounted': summary.get('lost_uncounted'),
            'capture_rate_hz': (last.seq - first.seq) / capture_s if capture_s > 0
            else float('nan'),
            'skipped': as_int(cam, 'capture_periods_skipped'),
            'e2e': {q: float(np.percentile(e2e, q)) for q in (50, 95, 99)},
            'e2e_max': float(np.max(e2e)), 'logs': str(out)}


def rate_table(runs: list[dict]) -> list[str]:
    """One row per :func:`rate_run`."""
    rows = ['| backend | CPU hogs | frames sent | answered | replaced by newer (edge) | '
            'missed (edge) | rejected (edge) | inactive (edge) | UNCOUNTED | '
            'e2e p50 ms | p95 ms | p99 ms | p99/p50 | p99 in frame periods | max ms | '
            'camera rate Hz | capture periods skipped |',
            '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
            '---:|']
    for r in runs:
        e, d, period_ms = r['e2e'], r['drops'], 1000.0 / r['rate_hz']
        rows.append(f'| {r["backend"]} | {r["hogs"]} | {r["sent"]} | {r["answered"]} | '
                    f'{d["dropped_replaced"]} | {d["frames_missed"]} | {d["rejected"]} | '
                    f'{d["dropped_inactive"]} | {r["uncounted"]} | {e[50]:.1f} | {e[95]:.1f} | '
                    f'{e[99]:.1f} | {e[99] / e[50]:.2f} | {e[99] / period_ms:.2f} | '
                    f'{r["e2e_max"]:.1f} | {r["capture_rate_hz"]:.1f} | {r["skipped"]} |')
    return rows


# --- the bare rclpy pair (separate processes) ----------------------------------
def _pong() -> None:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import UInt8MultiArray
    rclpy.init()
    node = rclpy.create_node('bench_pong')
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(UInt8MultiArray, 'bench_back', qos)
    reply = UInt8MultiArray(data=bytes(64))
    node.create_subscription(UInt8MultiArray, 'bench_out', lambda m: pub.publish(reply), qos)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, Exception):
        pass


def _ping(payload_bytes: int, n: int) -> None:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import UInt8MultiArray
    rclpy.init()
    node = rclpy.create_node('bench_ping')
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(UInt8MultiArray, 'bench_out', qos)
    got = []
    node.create_subscription(UInt8MultiArray, 'bench_back', lambda m: got.append(time.perf_counter_ns()), qos)
    deadline = time.monotonic() + 60
    while (pub.get_subscription_count() == 0 or node.count_publishers('bench_back') == 0) \
            and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    msg = UInt8MultiArray(data=bytes(payload_bytes))
    for _ in range(n + 5):          # 5 warm-up round trips
        got.clear()
        t0 = time.perf_counter_ns()
        pub.publish(msg)
        while not got and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.01)
        if got:
            print(f'{(got[0] - t0) / 1e6:.3f}')
        time.sleep(0.1)             # the pipeline's 10 Hz
    rclpy.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--frames', type=int, default=40)
    ap.add_argument('--repeats', type=int, default=30)
    ap.add_argument('--threads', type=int, default=1, help='threads of the compute rows, and '
                    'per node in the rate runs')
    ap.add_argument('--sections', default='compute,codec,transport,rate',
                    help='comma-separated: compute (incl. backends), codec, transport, rate')
    ap.add_argument('--rate-hz', type=float, default=30.0, help='rate runs: camera frame rate')
    ap.add_argument('--duration-s', type=float, default=20.0, help='rate runs: seconds of '
                    'frames per run')
    ap.add_argument('--backend', choices=('torch', 'onnxruntime'), default='onnxruntime',
                    help='rate runs: backend of camera and edge')
    ap.add_argument('--cpu-hog', type=int, action='append', metavar='N',
                    help='rate runs: N busy-loop processes beside the nodes for the whole run; '
                    'repeat for several runs (default: 0 and 1)')
    ap.add_argument('--pong', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--ping', nargs=2, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.pong:
        _pong()
        return 0
    if a.ping:
        _ping(*a.ping)
        return 0
    sections = set(a.sections.split(','))
    unknown = sections - {'compute', 'codec', 'transport', 'rate'}
    if unknown:
        ap.error(f'unknown sections: {", ".join(sorted(unknown))}')
    torch.set_num_threads(a.threads)
    specs = [ModelSpec(), ModelSpec(bottleneck_channels=0)]   # the default, and the natural split
    photos = list(frames(FolderSource(loop=False)))
    print(f'# bottlefit_ros pipeline benchmark\n\nmodel {specs[0].model}: the packaged default '
          f'({_label(specs[0])}) and the natural split, '
          f'{len(photos)} sample photos, torch {torch.__version__}, onnxruntime {_ort_version()} on {cpu_description()}, '
          f'{a.threads} torch thread(s), {os.cpu_count()} cores\n')
    if 'compute' in sections:
        print('## Compute per frame (batch 1)\n')
        print('\n'.join(compute_table(specs, photos, a.repeats)))
        print(f'\n## Backends: PyTorch eager vs ONNX Runtime (CPU provider), {a.threads} '
              'thread(s), batch 1\n')
        print('\n'.join(backend_table(specs, photos, a.repeats, a.threads)))
    if 'codec' in sections:
        print('\n## Bytes and codec time per frame\n')
        print('\n'.join(codec_table(specs, photos, a.repeats)))
    if 'transport' in sections:
        print(f'\n## Transport: the default pipeline, {a.frames} frames at 10 Hz, loopback, '
              'Fast DDS\n')
        print('\n'.join(transport_table(a.frames)))
    if 'rate' in sections:
        env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                   ROS_DOMAIN_ID=os.environ.get('ROS_DOMAIN_ID', str(random.randint(1, 100))))
        print(f'\n## The pipeline at {a.rate_hz:g} Hz for {a.duration_s:g} s per run, '
              f'{a.backend}, {a.threads} thread(s) per node, loopback, Fast DDS\n', flush=True)
        runs = [rate_run(a.rate_hz, a.duration_s, backend=a.backend, hogs=n,
                         threads=a.threads, env=env) for n in (a.cpu_hog or [0, 1])]
        print('\n'.join(rate_table(runs)))
        print(f'\nUNCOUNTED = sent - answered - the losses a node counted (edge: replaced by '
              f'a newer frame in its queue of one, missed, rejected, inactive); '
              f'the monitor\'s own count of uncounted losses: '
              f'{", ".join(str(r["monitor_uncounted"]) for r in runs)}. '
              f'Logs: {", ".join(r["logs"] for r in runs)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
