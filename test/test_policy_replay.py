"""benchmarks/policy_replay.py on a synthetic recorded rehearsal (ROS-free)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / 'benchmarks' / 'policy_replay.py'
PERIOD_MS = 200
FRAMES = 200


def _load():
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location('policy_replay', BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _write_run(run_dir: Path, latency_ms, mode: str) -> None:
    """A fixed run: phase 1 edge up, phase 2 edge killed (not replayed)."""
    run_dir.mkdir(parents=True)
    (run_dir / 'timeline.json').write_text(json.dumps({'phases': [
        {'phase': '1 up', 'edge': 'up', 'start_ns': 0},
        {'phase': '2 killed', 'edge': 'kill', 'start_ns': FRAMES * PERIOD_MS * 10**6}]}))
    lines = []
    for i in range(2 * FRAMES):
        e2e, result_mode = latency_ms(i)
        stamp = (i * PERIOD_MS + 1) * 10**6
        lines.append(json.dumps({
            'k': 'r', 'stamp_ns': stamp, 'frame_id': 'camera', 'mode': result_mode or mode,
            'arrival_ns': stamp + int(e2e * 1e6), 'seq': i,
            'payload_bytes': {'local': 0, 'split': 5600, 'offload': 24000}[mode],
            'preprocess_ms': 1.0,
            'head_ms': {'local': e2e - 5.0, 'split': 4.0, 'offload': 0.0}[mode],
            'encode_ms': 1.0 if mode == 'split' else 0.0, 'decode_ms': 1.0, 'tail_ms': 10.0}))
    (run_dir / 'events.jsonl').write_text('\n'.join(lines) + '\n')


def test_replay_picks_the_fastest_mode_of_the_recorded_runs(tmp_path):
    replay = _load()
    _write_run(tmp_path / 'local', lambda i: (120.0, None), 'local')
    _write_run(tmp_path / 'split', lambda i: (40.0 + i % 3, None), 'split')
    # Offload is faster, but every 40th frame fell back at the deadline.
    _write_run(tmp_path / 'offload',
               lambda i: (260.0, 'fallback') if i % 40 == 5 else (28.0 + i % 3, None), 'offload')
    rows = replay.replay(tmp_path, replay.PolicyConfig(frame_rate_hz=5.0))
    assert [r['phase'] for r in rows] == ['1 up']            # the edge-up phase only
    row = rows[0]
    assert row['frames'] == FRAMES and row['best'] == 'offload'
    assert row['used']['offload'] > 0.8 * FRAMES
    assert row['ratio'] < 1.1
    obs, e2e = replay.observation({'k': 'r', 'stamp_ns': 0, 'arrival_ns': 260 * 10**6,
                                   'mode': 'fallback', 'payload_bytes': 24000,
                                   'preprocess_ms': 1.0, 'head_ms': 90.0, 'encode_ms': 0.0,
                                   'decode_ms': 0.0, 'tail_ms': 0.0}, 'offload')
    assert obs.missed and obs.mode == 'offload' and e2e == 260.0
    # p95 of the replayed frames and of each fixed run's, over the phases replayed
    replayed, fixed = replay.p95_together(rows)
    assert fixed['local'] == pytest.approx(120.0) and fixed['split'] == pytest.approx(42.0)
    assert fixed['offload'] <= 30.0          # 1 frame in 40 fell back: under the p95
    assert replayed == pytest.approx(replay.percentiles(row['e2e_ms'], (95,))['p95'])
    # the frames that decide a whole timeline's p95: offload's 5 fallbacks of 200
    slow, fixed_slow = replay.slow_frames(rows, 150.0)
    assert fixed_slow == {'local': 0, 'split': 0, 'offload': 5}
    assert slow == sum(e >= 150.0 for e in row['e2e_ms']) <= 5


def test_replay_declares_the_edge_lost_after_misses_in_a_row_as_the_guard_does(tmp_path):
    replay = _load()
    _write_run(tmp_path / 'local', lambda i: (120.0, None), 'local')
    _write_run(tmp_path / 'offload', lambda i: (60.0 + i % 3, None), 'offload')
    # Split, the fastest, missed three frames in a row once (a burst on the link).
    _write_run(tmp_path / 'split',
               lambda i: (260.0, 'fallback') if 100 <= i < 103 else (40.0 + i % 3, None),
               'split')
    config = replay.PolicyConfig(frame_rate_hz=5.0)
    row = replay.replay(tmp_path, config)[0]
    assert row['losses'] == 1
    # The frame after the burst is local; then split is the mode in use again.
    assert row['e2e_ms'][103] == pytest.approx(120.0)
    assert row['used']['split'] > 0.85 * FRAMES and row['used']['local'] <= 5
    assert replay.replay(tmp_path, config, lost_after=0)[0]['losses'] == 0
    assert replay.replay(tmp_path, config, lost_after=4)[0]['losses'] == 0


def test_main_refuses_a_directory_without_the_fixed_runs(tmp_path, capsys):
    assert _load().main([str(tmp_path)]) == 2
    assert 'no recorded local, split, offload run' in capsys.readouterr().err
