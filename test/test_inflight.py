"""The frame ledger and the edge's liveness (bottlefit_ros.inflight): expiry, late
and duplicate results, overflow, the exactly-one-outcome invariant, bounded memory."""
from __future__ import annotations

import random

import pytest

from bottlefit_ros.inflight import (ACCOUNT_KEYS, ANSWERED_EDGE, ANSWERED_FALLBACK,
                                    ANSWERED_LOCAL, OUTCOMES, EdgeLiveness, FrameLedger,
                                    describe_account, read_account)


def settled_total(ledger: FrameLedger) -> int:
    return sum(ledger.counts.values())


def test_result_in_time_answers_the_frame_by_key():
    ledger = FrameLedger(deadline_s=0.3)
    ledger.add(('a', 1), seq=0, now_s=10.0, data='input0')
    ledger.add(('a', 2), seq=1, now_s=10.1, data='input1')
    kind, frame = ledger.answer(('a', 2))      # out of order: matched by key, not seq
    assert kind == FrameLedger.MATCHED and frame.seq == 1 and frame.data is None
    assert ledger.counts[ANSWERED_EDGE] == 1 and ledger.in_flight == 1
    assert ledger.next_due(10.29) is None       # frame 0 not due yet
    due = ledger.next_due(10.3)
    assert due.seq == 0 and due.data == 'input0'
    assert ledger.in_flight == 1                 # taken, not settled: still in flight
    ledger.settle(due, ANSWERED_FALLBACK)
    assert ledger.in_flight == 0 and ledger.counts[ANSWERED_FALLBACK] == 1


def test_late_and_duplicate_results_are_counted_not_used():
    ledger = FrameLedger(deadline_s=0.1)
    ledger.add('k0', 0, 0.0)
    ledger.add('k1', 1, 0.0)
    assert ledger.answer('k0')[0] == FrameLedger.MATCHED
    assert ledger.answer('k0') == (FrameLedger.DUPLICATE, None)
    frame = ledger.next_due(0.2)
    assert frame.key == 'k1'
    assert ledger.answer('k1') == (FrameLedger.LATE, None)   # while it is being answered
    ledger.settle(frame, ANSWERED_FALLBACK)
    assert ledger.answer('k1') == (FrameLedger.LATE, None)   # after
    assert ledger.answer('other camera') == (FrameLedger.UNKNOWN, None)
    assert (ledger.late_results, ledger.duplicate_results, ledger.unknown_results) == (2, 1, 1)
    assert ledger.counts[ANSWERED_EDGE] == 1 and ledger.counts[ANSWERED_FALLBACK] == 1


def test_fallback_starts_early_enough_to_be_out_by_the_deadline():
    """The deadline is when the answer is out: a frame is due for fallback the
    robot's measured answer time (plus the check's slack) before it, the lead
    at most half the deadline; recorded answer times: warm-up 120 ms, then 80 ms."""
    ledger = FrameLedger(deadline_s=0.3, slack_s=0.02)
    assert ledger.lead_s == pytest.approx(0.02)          # nothing measured yet
    ledger.note_local(0.120)                              # warm-up's whole model
    assert ledger.lead_s == pytest.approx(0.14)
    ledger.add('k0', 0, now_s=10.0)
    assert ledger.next_deadline() == pytest.approx(10.16)
    assert ledger.next_due(10.159) is None
    frame = ledger.next_due(10.161)
    assert frame.key == 'k0' and frame.deadline_s == pytest.approx(10.3)
    ledger.settle(frame, ANSWERED_FALLBACK)
    ledger.note_local(0.080)                              # a fallback, once warm
    assert ledger.local_s == pytest.approx(0.120 + 0.2 * (0.080 - 0.120))
    for bad in (float('nan'), float('inf'), -1.0):
        ledger.note_local(bad)                            # ignored
    assert ledger.local_s == pytest.approx(0.112)
    ledger.note_local(5.0)                                # a robot far too slow ...
    assert ledger.lead_s == pytest.approx(0.15)           # ... the edge keeps half
    ledger.add('k1', 1, now_s=20.0)
    assert ledger.next_due(20.149) is None and ledger.next_due(20.151).key == 'k1'
    with pytest.raises(ValueError):
        FrameLedger(deadline_s=0.25, slack_s=-0.01)


def test_frames_older_than_max_age_are_dropped_stale_not_answered():
    ledger = FrameLedger(deadline_s=0.1, max_age_s=0.5)
    for i in range(3):
        ledger.add(i, i, now_s=i * 0.1)          # deadlines 0.1, 0.2, 0.3
    # The camera was busy until 0.65: frames 0 (age 0.65) is stale, 1 (0.55) too,
    # 2 (0.45) still worth answering.
    frame = ledger.next_due(0.65)
    assert frame.seq == 2
    assert ledger.counts['dropped_stale'] == 2
    ledger.settle(frame, 'dropped_error')
    assert ledger.in_flight == 0 and settled_total(ledger) == 3
    assert ledger.answer(0) == (FrameLedger.LATE, None)


def test_max_age_is_at_least_the_deadline():
    assert FrameLedger(deadline_s=0.5, max_age_s=0.1).max_age_s == 0.5
    assert FrameLedger(deadline_s=0.5).max_age_s == 1.0


def test_overflow_drops_the_oldest_and_reused_key_the_older_frame():
    ledger = FrameLedger(deadline_s=10.0, capacity=2, remember=4)
    assert ledger.add('a', 0, 0.0) == []
    assert ledger.add('b', 1, 0.1) == []
    dropped = ledger.add('c', 2, 0.2)
    assert [f.seq for f in dropped] == [0] and dropped[0].outcome == 'dropped_overflow'
    dropped = ledger.add('c', 3, 0.3)            # same stamp and frame_id as seq 2
    assert [f.seq for f in dropped] == [2] and dropped[0].outcome == 'dropped_reused_key'
    assert ledger.in_flight == 2
    assert ledger.answer('a') == (FrameLedger.LATE, None)    # result for a dropped frame
    kind, frame = ledger.answer('c')
    assert kind == FrameLedger.MATCHED and frame.seq == 3


def test_settle_twice_or_untaken_is_refused():
    ledger = FrameLedger(deadline_s=0.1)
    ledger.add('a', 0, 0.0)
    frame = ledger.next_due(1.0 * 0.15)
    ledger.settle(frame, ANSWERED_FALLBACK)
    with pytest.raises(ValueError):
        ledger.settle(frame, ANSWERED_FALLBACK)
    with pytest.raises(ValueError):
        ledger.record('answered_maybe')


def test_exactly_one_outcome_per_frame_under_random_events():
    """Random interleavings of frames, results (in time, late, duplicated,
    unknown), expiries and drops: every frame gets exactly one outcome and
    ``frames == sum(outcomes) + in_flight`` after every step."""
    rng = random.Random(8)
    ledger = FrameLedger(deadline_s=0.3, capacity=8, max_age_s=0.6, remember=32)
    outcomes: dict[int, list[str]] = {}
    frames = {}
    now, seq = 0.0, 0
    for _ in range(5000):
        now += rng.uniform(0.0, 0.08)
        event = rng.random()
        if event < 0.35:
            key = (int(now * 1e9), 'camera') if rng.random() > 0.02 else next(iter(frames), 0)
            for f in ledger.add(key, seq, now, data=seq):
                outcomes.setdefault(f.seq, []).append(f.outcome)
            frames[key] = seq
            seq += 1
        elif event < 0.45:
            ledger.record(rng.choice((ANSWERED_LOCAL, ANSWERED_FALLBACK)))
            outcomes[seq] = ['recorded']
            seq += 1
        elif event < 0.75 and frames:
            key = rng.choice(list(frames)[-40:])
            kind, frame = ledger.answer(key)
            if frame is not None:
                outcomes.setdefault(frame.seq, []).append(frame.outcome)
        elif event < 0.77:
            ledger.answer(('unknown', rng.random()))
        else:
            frame = ledger.next_due(now)
            if frame is not None:
                assert frame.data == frame.seq
                ledger.settle(frame, ANSWERED_FALLBACK if rng.random() > 0.1 else 'dropped_error')
                outcomes.setdefault(frame.seq, []).append(frame.outcome)
        assert ledger.frames == seq
        assert sum(ledger.counts.values()) + ledger.in_flight == seq
        assert ledger.in_flight <= ledger.capacity
        assert len(ledger._done) <= ledger.remember      # bounded memory
    ledger.drop_all()
    assert ledger.in_flight == 0 and sum(ledger.counts.values()) == seq
    # Frames whose outcome the ledger handed back got exactly one (stale and
    # shutdown drops are counted without handing the frame back).
    assert all(len(v) == 1 for v in outcomes.values())
    assert ledger.counts[ANSWERED_EDGE] > 0 and ledger.counts[ANSWERED_FALLBACK] > 0
    assert ledger.counts['dropped_stale'] > 0 and ledger.counts['dropped_overflow'] > 0
    assert ledger.late_results > 0 and ledger.duplicate_results > 0


def test_memory_stays_bounded_over_a_long_run():
    ledger = FrameLedger(deadline_s=0.1, capacity=4, remember=16)
    for i in range(100_000):
        ledger.add(i, i, i * 0.01, data=bytearray(10))
        if i % 3:
            ledger.answer(i)
    assert ledger.in_flight <= 4 and len(ledger._done) <= 16
    assert ledger.frames == 100_000


def test_edge_lost_after_misses_back_on_new_match_or_answer():
    edge = EdgeLiveness(lost_after=3, probe_period_s=1.0)
    assert not edge.alive and edge.why_not == 'no subscriber matched'
    assert not edge.should_send(0.0)             # nobody to send to, not even a probe
    edge.update_matched(1)
    assert edge.alive and edge.should_send(0.0)
    for _ in range(3):
        edge.missed()
    assert not edge.alive and 'missed' in edge.why_not
    # Lost but matched (a killed edge's match lingers): probes, 1 s apart at first.
    assert edge.probe_due(10.0) and edge.probe_due(10.0)     # asking consumes nothing
    assert edge.should_send(10.0)
    assert not edge.should_send(10.5)
    assert edge.should_send(11.0) and edge.probes == 2
    edge.answered()                              # a probe answered in time
    assert edge.alive
    for _ in range(3):
        edge.missed()
    edge.update_matched(1)                       # the same match: no news
    assert not edge.alive
    edge.update_matched(2)                       # a restarted edge matched
    assert edge.alive
    edge.update_matched(1)                       # the dead one's match expires
    assert edge.alive
    edge.update_matched(0)
    assert not edge.alive


def test_probes_of_a_lost_but_matched_edge_back_off():
    """A killed edge stays matched until its DDS lease ends; each unanswered
    probe costs a fallback, so probes come 1, 2, 4, 8, 8 s apart, and again 1 s
    apart after the edge answered or a new one matched."""
    edge = EdgeLiveness(lost_after=1, probe_period_s=1.0, max_probe_period_s=8.0)
    edge.update_matched(1)
    edge.missed()                                # lost
    sent = [t / 10 for t in range(0, 400) if edge.should_send(t / 10)]
    assert sent == [0.0, 1.0, 3.0, 7.0, 15.0, 23.0, 31.0, 39.0]
    assert edge.probes == len(sent)
    edge.answered()                              # the probe at 39 s was answered in time
    assert edge.alive and edge.should_send(39.5)
    edge.missed()
    assert not edge.should_send(39.6) and edge.should_send(40.0)   # 1 s after the last
    assert not edge.should_send(40.9) and edge.should_send(41.0)
    assert not edge.should_send(42.9) and edge.should_send(43.0)   # backing off again
    edge.update_matched(2)                       # a restarted edge matched: alive
    edge.missed()
    assert not edge.alive and not edge.should_send(43.9) and edge.should_send(44.0)
    with pytest.raises(ValueError):
        EdgeLiveness(probe_period_s=2.0, max_probe_period_s=1.0)


def test_account_read_and_described():
    values = {'answered_edge': '90', 'answered_fallback': '8', 'dropped_stale': '2',
              'in_flight': '1', 'late_results': '3', 'mode_switches': '2', 'frames_sent': '101',
              'mode': 'split'}
    account = read_account(values)
    assert set(account) <= set(ACCOUNT_KEYS) and account['answered_edge'] == 90
    assert 'frames_sent' not in account
    assert describe_account(account) == ('camera: 90 edge, 8 fallback, 0 local, 2 dropped '
                                         '(stale 2), 1 in flight, 3 late, 2 mode switches')
    assert describe_account({}) == ''
    for bad in ('-1', 'x', str(2**63)):
        with pytest.raises(ValueError):
            read_account({'answered_edge': bad})
    assert set(OUTCOMES) < set(ACCOUNT_KEYS)
