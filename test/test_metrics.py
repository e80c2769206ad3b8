"""Summary metrics from per-frame records."""
from __future__ import annotations

import math

import pytest

from bottlefit_ros.metrics import (CSV_COLUMNS, FrameRecord, Summary, format_summary_table,
                                   percentiles, summarize)


def record(seq: int, e2e_ms: float, *, label: str = 'tabby', payload: int = 1000,
           energy: float = 0.5) -> FrameRecord:
    stamp = 1_000_000_000 + seq * 100_000_000
    return FrameRecord(seq=seq, mode='split', model='m', stamp_ns=stamp,
                       arrival_ns=stamp + int(e2e_ms * 1e6), preprocess_ms=1.0, head_ms=2.0,
                       encode_ms=0.5, decode_ms=0.5, tail_ms=3.0, payload_bytes=payload,
                       top1_id=1, top1_label=label, top1_score=0.9, energy_j=energy,
                       energy_compute_j=energy / 2)


def test_transport_is_what_compute_does_not_explain():
    r = record(0, 10.0)
    assert r.e2e_ms == pytest.approx(10.0)
    assert r.robot_compute_ms == pytest.approx(3.5)
    assert r.transport_ms == pytest.approx(10.0 - 7.0)
    assert record(0, 5.0).transport_ms == 0.0   # never negative


def test_percentiles():
    p = percentiles(list(range(1, 101)))
    assert p['p50'] == pytest.approx(50.5) and p['p95'] == pytest.approx(95.05)
    assert math.isnan(percentiles([])['p50'])


def test_summary_counts_losses_from_sequence_numbers():
    recs = [record(s, 10.0 + s) for s in (0, 1, 3, 4)]
    s = summarize(recs)
    assert s.frames_delivered == 4 and s.frames_lost == 1
    assert summarize(recs, frames_sent=10).frames_lost == 6
    assert s.latency_ms['e2e_ms']['p50'] == pytest.approx(12.0)
    assert s.bytes_per_frame == 1000 and s.energy_j_per_frame == pytest.approx(0.5)
    assert s.energy_compute_j_per_frame == pytest.approx(0.25)
    assert s.mean_power_w == pytest.approx(4 * 0.5 / ((10 + 11 + 13 + 14) / 1e3))
    assert s.top_labels == [('tabby', 4)]
    assert s.fps == pytest.approx(3 / 0.404)   # 4 arrivals over 0.404 s


def test_summary_round_trips_through_json_and_prints_every_stage():
    s = summarize([record(0, 12.0), record(1, 14.0, label='espresso')])
    again = Summary.from_json(s.to_json())
    assert again == s and again.to_json() == s.to_json()
    table = format_summary_table(s)
    for word in ('preprocess', 'head', 'encode', 'transport', 'decode', 'tail', 'e2e',
                 'bytes per frame', 'ESTIMATED', 'tabby x1', 'espresso x1'):
        assert word in table


def test_empty_summary():
    s = summarize([], frames_sent=3)
    assert s.frames_delivered == 0 and s.frames_lost == 3
    assert 'frames delivered: 0' in format_summary_table(s)


def test_csv_columns_cover_the_row():
    assert set(record(0, 1.0).row()) == set(CSV_COLUMNS)
