"""Demo starter: the nodes of a launch file as separate processes, for a
bounded run, ending with the monitor's summary table.

``ros2 launch`` is the way to run the package on a robot and an edge box. Where
the launch packages are not installed (e.g. ROS 2 from PyPI wheels), this
starts the same executables with the same parameter file, the node list and
the launch arguments of :mod:`bottlefit_ros.deployment`, giving only those that
bound the run (frame source, frame count, where the monitor writes)::

    python -m bottlefit_ros.launcher --mode split --frames 20

It never sets up networking: unless the environment says otherwise, the nodes
run with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST in a random ROS_DOMAIN_ID.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ament_index_python.packages import get_package_prefix, get_package_share_directory

from bottlefit_ros.deployment import DEFAULT_PARAMS_FILE, MODES, PACKAGE, NodeSpec, node_specs
from bottlefit_ros.metrics import format_summary_table, read_summary


def node_command(spec: NodeSpec, *, params_file: str, namespace: str = '',
                 extra: dict[str, object] | None = None) -> list[str]:
    """The command line that starts one node like ``launch_ros.actions.Node`` would."""
    exe = Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE / spec.executable
    cmd = [str(exe), '--ros-args', '-r', f'__node:={spec.executable}']
    if namespace:
        cmd += ['-r', f'__ns:=/{namespace.strip("/")}']
    cmd += ['--params-file', params_file]
    for key, value in {**spec.overrides, **(extra or {})}.items():
        cmd += ['-p', f'{key}:={json.dumps(value)}']
    return cmd


def stop_processes(procs: dict[str, subprocess.Popen], timeout_s: float = 10.0) -> None:
    """SIGINT (a node's clean shutdown) to every process still running; SIGKILL
    to those still running ``timeout_s`` later."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    for p in procs.values():
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def default_params_file() -> str:
    """The packaged parameter file the launch files use."""
    return str(Path(get_package_share_directory(PACKAGE)) / 'config' / DEFAULT_PARAMS_FILE)


def run_demo(*, mode: str, frames: int, model: str = '', params_file: str = '',
             namespace: str = '', source: str = 'folder', rate_hz: float = 5.0,
             timeout_s: float = 180.0, out_dir: str = '', threads: int = 1) -> int:
    """Start the nodes, wait for ``frames`` results (or the timeout), stop them,
    print the summary table. Returns 0 when every frame was delivered, 2 (before
    starting anything) when the parameter file is missing."""
    params_file = params_file or default_params_file()
    if not Path(params_file).is_file():
        print(f'[demo] parameter file {params_file!r} is not a file', file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    env.setdefault('ROS_DOMAIN_ID', str(random.randint(1, 100)))
    out = Path(out_dir or tempfile.mkdtemp(prefix='bottlefit_demo_'))
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / 'summary.json'
    # The launch arguments a bounded run gives (as `ros2 launch ... max_frames:=N`).
    settings: dict[str, object] = {
        'source': source, 'rate_hz': float(rate_hz), 'max_frames': frames,
        'num_threads': threads, 'summary_path': str(summary_path),
        'csv_path': str(out / 'frames.csv'), 'mcap_path': str(out / 'frames.mcap')}
    procs: dict[str, subprocess.Popen] = {}
    logs = {}
    print(f'[demo] mode={mode} frames={frames} params={params_file} '
          f'ROS_DOMAIN_ID={env["ROS_DOMAIN_ID"]} logs in {out}', flush=True)
    try:
        for spec in node_specs('all', mode=mode, model=model, settings=settings):
            cmd = node_command(spec, params_file=params_file, namespace=namespace)
            logs[spec.executable] = (out / f'{spec.executable}.log').open('w')
            procs[spec.executable] = subprocess.Popen(cmd, env=env, stdout=logs[spec.executable],
                                                      stderr=subprocess.STDOUT)
        monitor = procs['monitor_node']
        deadline = time.monotonic() + timeout_s
        while monitor.poll() is None and time.monotonic() < deadline:
            crashed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
            if crashed:
                break
            time.sleep(0.2)
    finally:
        stop_processes(procs)
        for f in logs.values():
            f.close()
    failed = {n: p.returncode for n, p in procs.items() if p.returncode not in (0, -2, 130)}
    for name in failed:
        print(f'[demo] {name} exited with {procs[name].returncode}; its log:', file=sys.stderr)
        print((out / f'{name}.log').read_text()[-4000:], file=sys.stderr)
    if not summary_path.exists():
        print('[demo] the monitor wrote no summary', file=sys.stderr)
        return 1
    summary = read_summary(summary_path)
    print(format_summary_table(summary))
    print(f'[demo] per-frame logs: {out / "frames.csv"}, {out / "frames.mcap"}; '
          f'report: python -m bottlefit_ros.report {out / "frames.mcap"} -o report.html')
    return 0 if summary.frames_delivered >= frames and not failed else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m bottlefit_ros.launcher --help``."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--mode', choices=MODES, default='split')
    ap.add_argument('--frames', type=int, default=20, help='frames to deliver')
    ap.add_argument('--model', default='', help='override the parameter file\'s model')
    ap.add_argument('--params-file', default='', help='default: share/bottlefit_ros/config/'
                    + DEFAULT_PARAMS_FILE)
    ap.add_argument('--namespace', default='')
    ap.add_argument('--source', default='folder', help='camera source (default: the sample '
                    'photos); see the camera_node source parameter')
    ap.add_argument('--rate-hz', type=float, default=5.0)
    ap.add_argument('--threads', type=int, default=1, help='torch threads per node')
    ap.add_argument('--timeout-s', type=float, default=180.0)
    ap.add_argument('--out-dir', default='', help='logs, CSV and summary (default: a temp dir)')
    a = ap.parse_args(argv)
    if a.frames <= 0:
        ap.error('--frames must be positive')
    return run_demo(mode=a.mode, frames=a.frames, model=a.model, params_file=a.params_file,
                    namespace=a.namespace, source=a.source, rate_hz=a.rate_hz,
                    timeout_s=a.timeout_s, out_dir=a.out_dir, threads=a.threads)


if __name__ == '__main__':
    sys.exit(main())
