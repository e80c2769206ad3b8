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
   payload size one way and a result-sized reply back.

    tools/with_env.sh python benchmarks/pipeline_benchmark.py [--frames 40]

Every rclpy process runs with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST in one
ROS_DOMAIN_ID of its own.
"""
from __future__ import annotations

import argparse
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
    rows = ['| split model | part | PyTorch p50 ms | ONNX Runtime p50 ms | speed-up | '
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
                for _ in range(3):
                    model(x)
                torch_ms = {'head': _median_ms(lambda: model.head(x), repeats)[0],
                            'tail': _median_ms(lambda: model.tail(z), repeats)[0],
                            'whole': _median_ms(lambda: model(x), repeats)[0]}
            ort_top1 = [int(parts['whole'].run(x).argmax()) for x in xs]
            same = ort_top1 == torch_top1 and all(
                int(parts['tail'].run(parts['head'].run(x)).argmax()) == t
                for x, t in zip(xs, torch_top1))
            inputs = {'head': xs[0], 'tail': z.numpy(), 'whole': xs[0]}
            for part in PARTS:
                for _ in range(3):
                    parts[part].run(inputs[part])
                ort = _median_ms(lambda: parts[part].run(inputs[part]), repeats)[0]
                rows.append(f'| {_label(spec)} | {part} | {torch_ms[part]:.2f} | {ort:.2f} | '
                            f'{torch_ms[part] / ort:.1f}x | {"yes" if same else "NO"} '
                            f'({len(xs)} photos) |')
    return rows


def codec_table(specs: list[ModelSpec], photos: list[np.ndarray],
                repeats: int) -> tuple[list[str], int]:
    """Bytes and codec times per frame; returns the rows and the first spec's
    q8+zstd bytes per frame (the default's payload, for the transport rows)."""
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
    default_bytes = 0
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
            if spec is specs[0] and codec_name == 'q8+zstd':
                default_bytes = int(nbytes)
    results['raw RGB camera frame'] = (float(np.mean([p.nbytes for p in photos])), 0.0, 0.0)
    results[f'raw RGB {size[0]}x{size[1]} model input'] = (float(size[0] * size[1] * 3), 0.0, 0.0)
    jpeg_bytes = results['JPEG q90, camera frame (offload mode)'][0]
    rows = ['| payload | bytes/frame (mean) | vs JPEG q90 frame | encode p50 ms | decode p50 ms |',
            '|---|---:|---:|---:|---:|']
    for name, (nbytes, enc, dec) in results.items():
        rows.append(f'| {name} | {nbytes:,.0f} | {nbytes / jpeg_bytes:.2f}x | '
                    f'{enc:.3f} | {dec:.3f} |')
    return rows, default_bytes


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


def transport_table(frames_n: int, payload_bytes: int) -> list[str]:
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
    ap.add_argument('--threads', type=int, default=1, help='torch threads for the compute rows')
    ap.add_argument('--pong', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--ping', nargs=2, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.pong:
        _pong()
        return 0
    if a.ping:
        _ping(*a.ping)
        return 0
    torch.set_num_threads(a.threads)
    specs = [ModelSpec(), ModelSpec(bottleneck_channels=0)]   # the default, and the natural split
    photos = list(frames(FolderSource(loop=False)))
    print(f'# bottlefit_ros pipeline benchmark\n\nmodel {specs[0].model}: the packaged default '
          f'({_label(specs[0])}) and the natural split, '
          f'{len(photos)} sample photos, torch {torch.__version__} on {platform.processor() or platform.machine()}, '
          f'{a.threads} torch thread(s), {os.cpu_count()} cores\n')
    print('## Compute per frame (batch 1)\n')
    print('\n'.join(compute_table(specs, photos, a.repeats)))
    print(f'\n## Backends: PyTorch eager vs ONNX Runtime (CPU provider), {a.threads} thread(s), '
          'batch 1\n')
    print('\n'.join(backend_table(specs, photos, a.repeats, a.threads)))
    print('\n## Bytes and codec time per frame\n')
    rows, split_bytes = codec_table(specs, photos, a.repeats)
    print('\n'.join(rows))
    print(f'\n## Transport: the default pipeline, {a.frames} frames at 10 Hz, loopback, '
          'Fast DDS\n')
    print('\n'.join(transport_table(a.frames, split_bytes)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
