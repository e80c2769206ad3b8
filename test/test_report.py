"""Field-trial report: logs in, one self-contained HTML page out."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bottlefit_ros.framelog import open_frame_log
from bottlefit_ros.metrics import FrameRecord
from bottlefit_ros.report import load_runs, main


def run_records(mode: str, n: int, *, e2e_ms: float, payload: int, measured: bool,
                skip: tuple[int, ...] = ()) -> list[FrameRecord]:
    rng = np.random.default_rng(len(mode))
    start = 1_718_000_000_000_000_000
    out = []
    for seq in range(n):
        if seq in skip:
            continue
        stamp = start + seq * 100_000_000
        out.append(FrameRecord(
            seq=seq, mode=mode, model='resnet50_bottlefit', stamp_ns=stamp,
            arrival_ns=stamp + int((e2e_ms + rng.normal(0, 2)) * 1e6), preprocess_ms=2.0,
            head_ms=8.0, encode_ms=1.0, decode_ms=0.5, tail_ms=6.0, payload_bytes=payload,
            top1_id=281, top1_label='tabby', top1_score=0.9,
            energy_j=float('nan') if seq == 3 else 0.05 + 0.001 * seq, energy_measured=measured,
            energy_method='jetson_ina3221 @ 100 Hz' if measured else 'estimate:jetson_nano'))
    return out


def write(path: Path, records: list[FrameRecord]) -> Path:
    with open_frame_log(path) as log:
        for r in records:
            log.write(r)
    return path


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    return [write(tmp_path / 'split_run.mcap',
                  run_records('split', 40, e2e_ms=35.0, payload=12_345, measured=False,
                              skip=(5, 6))),
            write(tmp_path / 'local_run.csv',
                  run_records('local', 25, e2e_ms=80.0, payload=0, measured=True))]


def test_report_is_one_self_contained_page(tmp_path: Path, logs: list[Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / 'out' / 'report.html'
    assert main([str(p) for p in logs] + ['-o', str(out), '--title', 'Trial 7']) == 0
    assert 'report.html: 2 run(s), 63 frames' in capsys.readouterr().out
    page = out.read_text()
    assert page.startswith('<!DOCTYPE html>') and '<h1>Trial 7</h1>' in page
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*https?://', page, re.I)
    assert not re.search(r'<(script|link)\b', page, re.I)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)) >= 4
    for text in ('split', 'local', 'split_run.mcap', 'local_run.csv', 'Generated',
                 '<td>38</td><td>2</td>',              # split: frames delivered, lost
                 '<td>25</td><td>0</td>',              # local
                 '12,345', 'ESTIMATED', 'measured', 'estimate:jetson_nano',
                 'jetson_ina3221 @ 100 Hz', 'p99'):
        assert text in page, text


def test_runs_reuse_the_metrics_summary(logs: list[Path]) -> None:
    split, local = load_runs(logs)
    assert (split.name, local.name) == ('split', 'local')
    assert split.summary.frames_delivered == 38 and split.summary.frames_lost == 2
    assert not split.summary.energy_measured and local.summary.energy_measured
    assert split.e2e_ms['p50'] < split.e2e_ms['p95'] <= split.e2e_ms['p99'] < local.e2e_ms['p50']


def test_a_log_with_several_modes_is_split_by_mode(tmp_path: Path) -> None:
    mixed = run_records('split', 10, e2e_ms=30.0, payload=100, measured=False)
    mixed += [FrameRecord(**{**r.__dict__, 'seq': r.seq + 10, 'mode': 'offload'})
              for r in run_records('offload', 10, e2e_ms=50.0, payload=9000, measured=False)]
    runs = load_runs([write(tmp_path / 'mixed.csv', mixed)])
    assert [(r.name, r.summary.frames_delivered, r.summary.frames_lost) for r in runs] == [
        ('split', 10, 0), ('offload', 10, 0)]


@pytest.mark.parametrize('case', ['missing', 'empty', 'garbage', 'directory'])
def test_bad_log_is_a_one_line_error(tmp_path: Path, logs: list[Path], case: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / 'bad.csv'
    if case == 'empty':
        bad.write_text('')
    elif case == 'garbage':
        bad = tmp_path / 'bad.mcap'
        bad.write_bytes(b'\x00' * 64)
    elif case == 'directory':
        bad = tmp_path / 'dir.csv'
        bad.mkdir()
    out = tmp_path / 'report.html'
    assert main([str(logs[0]), str(bad), '-o', str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'error' in err and bad.name in err
    assert not out.exists()


def test_figures_are_also_written_as_png_files(tmp_path: Path, logs: list[Path]) -> None:
    out = tmp_path / 'trial.html'
    assert main([*map(str, logs), '-o', str(out), '--figures', str(tmp_path / 'fig')]) == 0
    pngs = sorted((tmp_path / 'fig').glob('trial-*.png'))
    assert [p.stem for p in pngs] == sorted(f'trial-{n}' for n in
                                            ('latency-over-time', 'latency-cdf', 'stages',
                                             'bytes', 'energy'))
    assert all(p.read_bytes().startswith(b'\x89PNG') for p in pngs)
