"""The scenario rehearsal (benchmarks/scenario_rehearsal.py): its accounting on
recorded events (ROS-free), and its --short form end to end (root, network
namespaces and the colcon-built package; skipped with the reason otherwise)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bottlefit_ros.energy.meter import FrameEnergyMeter
from bottlefit_ros.framelog import open_frame_log
from bottlefit_ros.metrics import FrameRecord
from bottlefit_ros.netem import netns_available

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / 'benchmarks' / 'scenario_rehearsal.py'
NETNS_WHY = netns_available()


def _load_bench():
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location('scenario_rehearsal', BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _result(stamp_ms: int, mode: str, arrival_ms: int, payload: int = 5000) -> dict:
    return {'k': 'r', 'stamp_ns': stamp_ms * 10**6, 'frame_id': 'camera', 'mode': mode,
            'arrival_ns': arrival_ms * 10**6, 'seq': 0, 'payload_bytes': payload,
            'preprocess_ms': 5.0, 'head_ms': 10.0, 'encode_ms': 1.0, 'decode_ms': 1.0,
            'tail_ms': 10.0}


def _status(t_ms: int, **values: int) -> dict:
    return {'k': 'd', 'time_ns': t_ms * 10**6, 'message': '',
            'values': {k: str(v) for k, v in values.items()}}


def test_a_fallback_result_decides_the_frame_even_with_a_late_edge_result():
    bench = _load_bench()
    answers = bench.answers_from_results([
        _result(0, 'split', 40),                 # in time
        _result(200, 'split', 900),              # late edge result ...
        _result(200, 'fallback', 560),           # ... after the fallback
        _result(400, 'local', 550, payload=0)])
    assert [(a.outcome, a.mode, a.e2e_ms) for a in answers] == [
        ('answered_edge', 'split', 40.0), ('answered_fallback', 'fallback', 360.0),
        ('answered_local', 'local', 150.0)]


def test_phases_accounts_and_unexplained_losses():
    bench = _load_bench()
    timeline = bench.SHORT_TIMELINE
    starts = [0, 1000 * 10**6]
    results = [_result(0, 'split', 40), _result(200, 'split', 250),
               _result(1100, 'fallback', 1500), _result(1300, 'fallback', 1450)]
    final = dict(frames_in=5, frames_sent=5, frames_rejected=0, answered_edge=2,
                 answered_fallback=2, dropped_stale=1, in_flight=0)
    diags = [_status(500, frames_in=3, frames_sent=3, answered_edge=2, in_flight=1),
             _status(1010, frames_in=3, frames_sent=3, answered_edge=2, in_flight=0),
             _status(2000, **final)]
    run = bench.ConfigRun('split')
    meter = FrameEnergyMeter('estimate')
    bench.analyse(run, timeline, starts, 2000 * 10**6, results, diags, kill_ns=10**9,
                  restart_ns=None, energy=meter)
    p1, p2 = run.phases
    assert (p1.answered['answered_edge'], p1.frames) == (2, 2)
    assert (p2.answered['answered_fallback'], p2.dropped, p2.frames) == (
        2, {'dropped_stale': 1}, 3)
    assert p1.e2e_ms['p50'] == pytest.approx(45.0)
    assert run.unexplained == 0 and run.captured == 5
    # Fallback results after the kill (+0 ms): the frame captured at +100 ms at
    # +500 ms, the one captured at +300 ms first, at +450 ms.
    assert run.kill_to_robot_ms == pytest.approx(450.0)
    assert (run.kill_robot_mode, run.kill_robot_capture_ms) == ('fallback', pytest.approx(300.0))
    assert run.kill_gap_ms == pytest.approx(500.0)        # +500 ms to the end at +1000 ms
    # A frame the camera answered but no result of which was recorded is unexplained.
    run2 = bench.ConfigRun('split')
    bench.analyse(run2, timeline, starts, 2000 * 10**6, results[:-1], diags, kill_ns=None,
                  restart_ns=None, energy=meter)
    assert run2.unexplained == 2       # one frame unseen, and the camera's count disagrees
    text = bench.format_run(run2, deadline_ms=250, rate_hz=5, energy_label='estimated')
    assert 'unexplained losses: 2' in text and '| 2 edge killed, wifi_poor |' in text


def test_the_monitor_s_log_completes_the_recorder_s_results(tmp_path):
    # The recorder matches a restarted edge's publisher on its own, after the camera
    # and the monitor: the first results of the returned edge reached them and not it
    # (d8528f4), or reached it as a late joiner, 1.6 s later than the monitor (run I).
    bench = _load_bench()
    with open_frame_log(tmp_path / 'frames.csv') as log:
        for stamp_ms, mode, arrival_ms in ((0, 'split', 40), (200, 'offload', 260),
                                           (400, 'split', 1900), (600, 'split', 650),
                                           (800, 'split', 830)):
            log.write(FrameRecord(seq=stamp_ms, mode=mode, model='m', stamp_ns=stamp_ms * 10**6,
                                  arrival_ns=arrival_ms * 10**6, preprocess_ms=1.0,
                                  head_ms=2.0, encode_ms=0.5, decode_ms=0.0, tail_ms=3.0,
                                  payload_bytes=900, top1_id=1, top1_label='a', top1_score=0.5))
    # frame 400: the recorder had it first; 600: the monitor, and the recorder only after
    # the deadline (its late join); 800: the monitor first, the recorder in time (stands)
    recorded = [_result(0, 'split', 40), _result(400, 'split', 440), _result(600, 'split', 2100),
                _result(800, 'split', 850)]
    merged, only, earlier = bench.merge_monitor_log(recorded, tmp_path / 'frames.csv',
                                                    deadline_ms=250)
    assert (only, earlier) == (1, 1)
    assert [(r['stamp_ns'], r['mode'], r['arrival_ns']) for r in merged] == [
        (0, 'split', 40 * 10**6), (400 * 10**6, 'split', 440 * 10**6),
        (600 * 10**6, 'split', 650 * 10**6), (800 * 10**6, 'split', 850 * 10**6),
        (200 * 10**6, 'offload', 260 * 10**6)]
    assert recorded[2]['arrival_ns'] == 2100 * 10**6          # the input is not changed
    answers = bench.answers_from_results(merged)
    assert [(a.outcome, a.mode, a.e2e_ms, a.robot_compute_ms) for a in answers] == [
        ('answered_edge', 'split', 40.0, pytest.approx(16.0)),
        ('answered_edge', 'offload', 60.0, pytest.approx(3.5)),
        ('answered_edge', 'split', 40.0, pytest.approx(16.0)),
        ('answered_edge', 'split', 50.0, pytest.approx(16.0)),
        ('answered_edge', 'split', 50.0, pytest.approx(16.0))]
    assert bench.merge_monitor_log(recorded, tmp_path / 'missing.csv',
                                   deadline_ms=250) == (recorded, 0, 0)


def test_rounds_pooled_compare_every_round_s_frames_together():
    # Two rounds; in each the robot ran at its own speed. Pooled, every
    # configuration's phase holds both rounds' frames: p50, p95, modes summed,
    # bytes and energy per frame averaged over the frames.
    bench = _load_bench()
    meter = FrameEnergyMeter('estimate')
    starts = [0, 1000 * 10**6]

    def run(config: str, mode: str, e2e_ms: list[int]):
        results = [_result(200 * i, mode, 200 * i + e) for i, e in enumerate(e2e_ms)]
        r = bench.ConfigRun(config)
        final = dict(frames_in=len(results), frames_sent=len(results), answered_edge=len(results))
        bench.analyse(r, bench.SHORT_TIMELINE, starts, 2000 * 10**6, results,
                      [_status(2000, **final)], kill_ns=None, restart_ns=None, energy=meter)
        return r
    # frames at 0..800 ms are phase 1, 1000..1800 ms phase 2
    rounds = [{'split': run('split', 'split', [20, 22, 24, 26, 28, 60, 62, 64, 66, 68]),
               'adaptive': run('adaptive', 'split', [30, 31, 32, 33, 34, 70, 71, 72, 73, 74])},
              {'split': run('split', 'split', [40, 42, 44, 46, 48, 80, 82, 84, 86, 88]),
               'adaptive': run('adaptive', 'split', [30, 31, 32, 33, 34, 70, 71, 72, 73, 74])}]
    pooled = bench.pool_rounds(rounds)
    split = pooled['split']
    assert [p.modes for p in split.phases] == [{'split': 10}, {'split': 10}]
    assert split.phases[0].e2e_ms['p50'] == pytest.approx(34.0)     # 20..28 and 40..48
    assert split.phases[1].e2e_ms['p50'] == pytest.approx(74.0)
    assert split.e2e_ms['p95'] > 80.0
    assert split.phases[0].bytes_per_frame == pytest.approx(5000.0)
    assert split.phases[0].answered['answered_edge'] == 10
    # Round 1 alone: adaptive is 33 % slower than split in phase 1; round 2: faster;
    # the rounds pooled: within 10 %.
    text = '\n'.join(bench.summarise(rounds))
    assert '### adaptive vs the fixed modes, round 1' in text
    assert '### adaptive vs the fixed modes, the 2 rounds pooled' in text
    pooled_part = text.split('the 2 rounds pooled')[1]
    assert '| 1 wifi_good | 34.0 | split | 32.0 | 0.94 | yes |' in pooled_part
    assert '| 1 wifi_good | 24.0 | split | 32.0 | 1.33 | NO |' in text


def _ros_missing() -> str:
    try:
        import rclpy  # noqa: F401

        import bottlefit_ros.msg  # noqa: F401  (generated at build time)
    except ImportError as exc:
        return f'needs rclpy and the colcon-built package (`make test`): {exc}'
    return ''


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(bool(NETNS_WHY), reason=f'network namespaces: {NETNS_WHY}')
def test_short_scenario_accounts_for_every_frame(tmp_path, domain_id):
    missing = _ros_missing()
    if missing and os.environ.get('BOTTLEFIT_REQUIRE_ROS') == '1':   # `make test`
        pytest.fail(missing)
    if missing:
        pytest.skip(missing)
    proc = subprocess.Popen([sys.executable, str(BENCH), '--short', '--robot-cpu', '0',
                             '--phase-s', '6', '--domain', str(domain_id),
                             '--backend', 'onnxruntime',
                             '--out-dir', str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    try:
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-4000:] + err[-3000:]
    assert out.count('unexplained losses: 0') == 2, out[-4000:]
    for config in ('split', 'adaptive'):
        assert f'### {config}\n' in out
    assert len(re.findall(r'^\| 1 wifi_good \| wifi_good \|', out, re.M)) == 2
    assert len(re.findall(r'^\| 2 edge killed, wifi_poor \| wifi_poor \|', out, re.M)) == 2
    assert 'edge killed -> first result answered on the robot' in out
    results = json.loads((tmp_path / 'results.json').read_text())
    for r in results:
        frames = sum(sum(p['answered'].values()) + sum(p['dropped'].values())
                     for p in r['phases'])
        assert frames == r['captured'] == 60 == sum(r['outcomes'].values()), r
        assert r['in_flight'] == 0 and r['unexplained'] == 0
        assert [p['name'] for p in r['phases']] == ['1 wifi_good', '2 edge killed, wifi_poor']
        # The edge answered in the first phase; after its kill, only the robot did
        # (adaptive: by fallback, or locally once the policy chose local).
        first, second = (p['answered'] for p in r['phases'])
        assert first['answered_edge'] > 0
        assert second['answered_edge'] == 0
        assert second['answered_fallback'] + second['answered_local'] > 0
    assert (tmp_path / 'report.html').read_text().count('<img') >= 3
    # --analyse prints the same tables again from the recording, running nothing.
    again = subprocess.run([sys.executable, str(BENCH), '--analyse', str(tmp_path)],
                           capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert again.returncode == 0, again.stderr[-3000:]
    rows = re.compile(r'^\| \d .*$', re.M)
    assert rows.findall(again.stdout) == rows.findall(out) and rows.findall(out)
    assert again.stdout.count('unexplained losses: 0') == 2
    for config in ('split', 'adaptive'):      # --backend reached both nodes
        for node in ('camera_node', 'edge_node'):
            log = (tmp_path / config / f'{node}.log').read_text()
            assert ' on onnxruntime' in log and ' on torch' not in log, (config, node)
