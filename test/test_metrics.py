"""Summary metrics from per-frame records; what the monitor's ROS-free core does with
untrusted results: field checks, frames lost from sequence numbers a camera, a network
or a forger produced, and run summaries in bounded memory."""
from __future__ import annotations

import math

import pytest

from bottlefit_ros.metrics import (CSV_COLUMNS, MAX_STAGE_MS, FrameRecord, RunningSummary,
                                   SeqTracker, Summary, format_summary_table, percentiles,
                                   result_problem, stamp_to_ns, summarize)

MODES = ('split', 'local', 'offload')
S = 1_000_000_000


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


def test_losses_by_reason_round_trip_and_print_with_the_uncounted():
    s = summarize([record(0, 12.0), record(4, 14.0)])
    assert 'lost by reason' not in format_summary_table(s)    # no reasons known
    s.lost_by_reason, s.lost_uncounted = {'edge_dropped_replaced': 2, 'edge_rejected': 0}, 1
    assert Summary.from_json(s.to_json()) == s
    assert ('lost by reason: edge_dropped_replaced 2, edge_rejected 0, uncounted 1'
            in format_summary_table(s))


def test_empty_summary():
    s = summarize([], frames_sent=3)
    assert s.frames_delivered == 0 and s.frames_lost == 3
    assert 'frames delivered: 0' in format_summary_table(s)


def test_csv_columns_cover_the_row():
    assert set(record(0, 1.0).row()) == set(CSV_COLUMNS)


# -- stamps and fields --------------------------------------------------------

def test_stamp_to_ns_refuses_what_is_no_time():
    assert stamp_to_ns(12, 5) == 12 * S + 5
    assert stamp_to_ns(0, 0) == 0
    assert stamp_to_ns(1, S) is None            # nanosec must stay below one second
    assert stamp_to_ns(1, 2**32 - 1) is None
    assert stamp_to_ns(-1, 0) is None


def problem(**changes):
    fields = dict(mode='split', model='efficientnet_lite0', class_ids=[3, 1],
                  labels=['tabby', 'tiger cat'], scores=[0.7, 0.2], payload_bytes=7000,
                  timings=(1.0, 5.0, 0.5, 0.5, 8.0), modes=MODES, max_payload_bytes=16 * 2**20)
    fields.update(changes)
    found = result_problem(**fields)
    return found[0] if found else None


@pytest.mark.parametrize('changes, reason', [
    ({}, None),
    ({'payload_bytes': 0, 'mode': 'local'}, None),
    ({'timings': (0.0, 0.0, 0.0, 0.0, MAX_STAGE_MS)}, None),
    ({'class_ids': [], 'labels': [], 'scores': []}, 'bad_classes'),
    ({'labels': ['tabby']}, 'bad_classes'),                 # arrays of different lengths
    ({'class_ids': list(range(1001)), 'labels': ['x'] * 1001, 'scores': [0.0] * 1001},
     'bad_classes'),
    ({'scores': [float('nan'), 0.2]}, 'bad_scores'),
    ({'scores': [1.5, 0.2]}, 'bad_scores'),
    ({'scores': [0.7, -0.1]}, 'bad_scores'),
    ({'timings': (-1.0, 5.0, 0.5, 0.5, 8.0)}, 'bad_timings'),
    ({'timings': (1.0, float('nan'), 0.5, 0.5, 8.0)}, 'bad_timings'),
    ({'timings': (1.0, 5.0, float('inf'), 0.5, 8.0)}, 'bad_timings'),
    ({'timings': (1.0, 5.0, 0.5, 0.5, 3.4e38)}, 'bad_timings'),
    ({'payload_bytes': 2**32 - 1}, 'too_large'),
    ({'mode': 'split\n[FATAL] forged'}, 'bad_mode'),
    ({'labels': ['tabby', 'x' * 4 * 2**20]}, 'bad_text'),
    ({'model': 'm' * 300}, 'bad_text'),
])
def test_result_problem_names_the_implausible_field(changes, reason):
    assert problem(**changes) == reason


def test_result_problem_explanations_quote_no_message_text():
    forged = 'tabby\n[FATAL] forged'
    for changes in ({'mode': forged}, {'labels': [forged * 100, 'x']}):
        _, why = result_problem(**{**dict(model='m', class_ids=[1, 2], labels=['a', 'b'],
                                          scores=[0.5, 0.5], payload_bytes=1, mode='split',
                                          timings=(1.0,) * 5, modes=MODES,
                                          max_payload_bytes=10), **changes})
        assert '\n' not in why and 'forged' not in why


# -- frames lost from sequence numbers --------------------------------------------

def feed(tracker: SeqTracker, seqs, *, t0: int = 0, dt: int = 10**7) -> list[str]:
    """Each seq stamped dt after the previous result and arriving 1 ms later."""
    out = []
    for i, seq in enumerate(seqs):
        stamp = t0 + i * dt
        out.append(tracker.see(seq, stamp, stamp + 10**6))
    return out


def test_losses_are_gaps_and_late_frames_fill_them():
    t = SeqTracker(window=64)
    assert feed(t, [0, 1, 4, 5]) == ['new'] * 4 and t.lost == 2
    # seq 2 arrives late (its stamp is older than frame 5's): no longer lost
    assert t.see(2, 2 * 10**7, 6 * 10**7) == 'late' and t.lost == 1


def test_first_seq_counts_frames_lost_before_it():
    t = SeqTracker()
    t.see(3, S, S + 10**6)
    assert t.lost == 3                      # the camera numbers from 0
    joined = SeqTracker(max_jump=100)
    joined.see(5000, S, S + 10**6)          # the monitor joined a running camera
    assert joined.lost == 0
    late = SeqTracker(started_ns=2 * S)
    late.see(40, S, 2 * S + 10**6)          # history: captured before the monitor started
    assert late.see(42, 2 * S + 10, 2 * S + 10**6) == 'new' and late.lost == 1


def test_duplicates_are_not_new_frames():
    t = SeqTracker()
    feed(t, [0, 1, 2])
    assert t.see(1, 10**7, 5 * 10**7) == 'duplicate'    # same seq, same stamp
    assert t.see(2, 2 * 10**7, 5 * 10**7) == 'duplicate'
    assert t.see(2, 10**6, 5 * 10**7) == 'duplicate'    # same seq, an older stamp
    assert t.lost == 0


def test_an_absurd_seq_adds_no_losses_and_the_stream_goes_on():
    t = SeqTracker(max_jump=10_000)
    feed(t, [0, 1, 2])
    assert t.see(2**64 - 1, 3 * 10**7, 3 * 10**7 + 10**6) == 'jump'
    assert t.see(2**63, 4 * 10**7, 4 * 10**7 + 10**6) == 'jump'   # not a continuation
    assert [t.see(s, s * 10**7, s * 10**7 + 10**6) for s in (3, 5)] == ['new', 'new']
    assert t.lost == 1                       # seq 4 only


def test_a_jump_the_camera_continues_from_is_a_restart():
    """A long outage, or a camera that numbers from elsewhere: the second result
    after the jump confirms it; losses count from the jump on."""
    t = SeqTracker(max_jump=100)
    feed(t, [0, 1])
    assert t.see(5000, 10**9, 10**9 + 10**6) == 'jump'
    assert t.see(5003, 2 * 10**9, 2 * 10**9 + 10**6) == 'restart'
    assert t.see(5001, 15 * 10**8, 2 * 10**9 + 10**7) == 'late'
    assert t.lost == 1 and t.restarts == 1   # 5002


def test_camera_restart_resets_the_count_without_losses():
    t = SeqTracker()
    feed(t, range(50))                       # stamps up to 49e7
    assert t.see(0, 60 * 10**7, 60 * 10**7 + 10**6) == 'jump'   # seq back, stamp on
    assert feed(t, [1, 2, 4], t0=61 * 10**7) == ['restart', 'new', 'new']   # continued
    assert t.lost == 1 and t.restarts == 1
    # frames of the camera before it restarted, duplicated or delayed: not new
    assert t.see(1, 10**7, 70 * 10**7) == 'stale'
    assert t.see(30, 30 * 10**7, 70 * 10**7) == 'stale'
    assert t.lost == 1


def test_a_forged_future_stamp_cannot_hide_the_next_restart():
    t = SeqTracker()
    feed(t, [0, 1, 2])
    year = 365 * 86400 * S
    t.see(3, year, 3 * 10**7)                # stamped a year ahead, arrives now
    assert t.see(0, 10 * 10**7, 10 * 10**7 + 10**6) == 'jump'
    assert t.see(1, 11 * 10**7, 11 * 10**7 + 10**6) == 'restart'


def test_one_forged_seq_back_adds_no_losses():
    t = SeqTracker()
    feed(t, range(5000), dt=10**6)
    # seq 0 with a fresh stamp: a camera restart, or a forger; the next frame decides
    assert t.see(0, 6 * 10**9, 6 * 10**9 + 10**6) == 'jump'
    assert t.see(5000, 5 * 10**9, 6 * 10**9 + 10**6) == 'new'   # the camera goes on
    assert t.see(1, 6 * 10**9 + 1, 6 * 10**9 + 10**6) == 'jump'  # no continuation of 0
    assert t.see(5001, 5 * 10**9 + 1, 6 * 10**9 + 10**6) == 'new'
    assert t.lost == 0 and t.restarts == 0


def test_frames_far_behind_the_window_are_stale():
    t = SeqTracker(window=16)
    feed(t, range(40))
    assert t.see(5, 5 * 10**7 + 1, 41 * 10**7) == 'stale' and t.lost == 0


def test_tracker_memory_is_fixed():
    t = SeqTracker(window=128)
    feed(t, range(0, 200_000, 2), dt=10**6)
    assert len(t._seqs) == len(t._stamps) == 128
    assert t.lost == 99_999


# -- summaries in bounded memory --------------------------------------------------

def test_running_summary_is_exact_below_its_bound():
    recs = [record(s, 10.0 + s, label='espresso' if s % 2 else 'tabby') for s in range(20)]
    acc = RunningSummary(reservoir_size=64)
    for r in recs:
        acc.add(r)
    assert acc.summary(frames_lost=2) == summarize(recs, frames_sent=22)


def test_running_summary_memory_is_bounded_and_totals_cover_the_run():
    n, bound = 60_000, 500
    acc = RunningSummary(reservoir_size=bound, max_labels=20)
    for seq in range(n):
        acc.add(record(seq, 10.0 + seq % 100, label=f'label{seq}', payload=seq % 3,
                       energy=1.0))
        assert acc.held <= bound and acc.distinct_labels <= 21
    s = acc.summary(frames_lost=7)
    assert acc.held == bound and len(acc) == n
    assert s.frames_delivered == n and s.frames_lost == 7
    assert s.bytes_per_frame == pytest.approx(1.0, abs=1e-4)     # exact mean of 0, 1, 2
    assert s.energy_j_per_frame == pytest.approx(1.0)
    assert s.duration_s == pytest.approx((n - 1) * 0.1 + 0.109)   # first stamp to last arrival
    assert s.fps == pytest.approx((n - 1) / ((n - 1) * 0.1 + 0.109 - 0.010))
    # the sample is uniform over the whole run: its median is the run's (10..109 ms)
    assert s.latency_ms['e2e_ms']['p50'] == pytest.approx(59.5, abs=5.0)
    assert s.latency_ms['e2e_ms']['p95'] == pytest.approx(104.0, abs=3.0)
    assert ('(other labels)', n - 20) in s.top_labels


def test_running_summary_clear_starts_a_new_period():
    acc = RunningSummary(reservoir_size=4)
    for seq in range(10):
        acc.add(record(seq, 20.0))
    acc.clear()
    assert len(acc) == 0 and acc.summary().frames_delivered == 0
    assert math.isnan(acc.summary().energy_j_per_frame)
    acc.add(record(0, 12.0))
    assert acc.summary().latency_ms['e2e_ms']['p50'] == pytest.approx(12.0)
