"""The monitor's ROS-free accounting of frames (FrameAccount): results told apart by
capture stamp and frame_id, so a camera that mixes modes (offload results numbered
by the edge, fallback results by the camera) loses no measurement and no frame."""
from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from bottlefit_ros.metrics import FrameAccount, SeqTracker

MS = 1_000_000
S = 1000 * MS
T0 = 100 * S                 # the monitor starts at 0: every frame is captured after it
PERIOD, DEADLINE = 100 * MS, 300 * MS
MEASURED = (FrameAccount.NEW, FrameAccount.LATE)


@dataclass
class Result:
    arrival_ns: int
    seq: int
    mode: str
    stamp_ns: int
    frame_id: str = 'camera'


def camera_with_deadline(kinds: str) -> tuple[list[Result], list[tuple[int, int]]]:
    """What a camera in offload mode with a deadline and its edge publish on
    ``classification`` for one frame per ``kinds`` letter, in arrival order, and
    the camera's status (``(stamp_ns, frames_sent)``) after every 10th frame and
    at the end.
    e: the edge answers in 40 ms (seq: its JPEG sample number); l: the edge
    answers after the camera's fallback (seq: the camera's), both published;
    m: the edge never answers, fallback; h: edge lost, answered here at once,
    no JPEG sent; d: sent, never answered (the camera drops it as stale)."""
    results, statuses, jpegs = [], [], 0
    for i, kind in enumerate(kinds):
        stamp = T0 + i * PERIOD
        if kind in 'elmd':
            if kind in 'el':
                after = 40 * MS if kind == 'e' else DEADLINE + 120 * MS
                results.append(Result(stamp + after, jpegs, 'offload', stamp))
            jpegs += 1
        if kind in 'lm':
            results.append(Result(stamp + DEADLINE + 80 * MS, i, 'fallback', stamp))
        if kind == 'h':
            results.append(Result(stamp + 60 * MS, i, 'fallback', stamp))
        if i % 10 == 9:
            statuses.append((stamp + MS, i + 1))
    statuses.append((T0 + len(kinds) * PERIOD, len(kinds)))   # it goes on reporting
    return sorted(results, key=lambda r: r.arrival_ns), statuses


def replay(account: FrameAccount, results: list[Result], statuses: list[tuple[int, int]],
           grace_ns: int = S) -> tuple[list[str], list[int]]:
    """Feed results as they arrive and each status once ``grace_ns`` old (as the
    monitor does); the outcomes, and the losses after each status."""
    outcomes, lost, pending = [], [], list(statuses)
    for r in results:
        while pending and pending[0][0] + grace_ns <= r.arrival_ns:
            stamp, sent = pending.pop(0)
            account.camera_sent(sent, stamp)
            lost.append(account.lost)
        outcomes.append(account.see(seq=r.seq, offload=r.mode == 'offload', stamp_ns=r.stamp_ns,
                                    frame_id=r.frame_id, arrival_ns=r.arrival_ns))
    for stamp, sent in pending:
        account.camera_sent(sent, stamp)
        lost.append(account.lost)
    return outcomes, lost


def mixed_kinds(n: int, seed: int = 8) -> str:
    rng = random.Random(seed)
    kinds = ''.join(rng.choices('elmh', weights=(6, 2, 1, 1), k=n))
    return kinds + 'h' * 20 + 'e' * 20        # an edge lost, then back


def test_offload_and_fallback_results_mixed_are_all_measured_and_none_lost():
    kinds = mixed_kinds(400)
    results, statuses = camera_with_deadline(kinds)
    account = FrameAccount(started_ns=0)
    outcomes, lost = replay(account, results, statuses)
    late = kinds.count('l')
    assert late > 0 and kinds.count('m') > 0 and kinds.count('h') > 0
    # Each frame measured once; the second result of a frame is a duplicate.
    assert outcomes.count(FrameAccount.DUPLICATE) == late
    assert sum(o in MEASURED for o in outcomes) == len(kinds) == account.answered
    assert len(outcomes) == len(kinds) + late
    assert lost and set(lost) == {0} and account.lost == 0
    # One tracker of seqs for all of them (what the monitor did) gets it wrong.
    single = SeqTracker(started_ns=0)
    old = [single.see(r.seq, r.stamp_ns, r.arrival_ns) for r in results]
    assert sum(o in MEASURED for o in old) < len(kinds) or single.lost > 0


def test_frames_never_answered_are_lost_in_every_mode_mix():
    kinds = 'eeddmhhlde' * 12 + 'ddddd'     # the last 5 sent after the last answer
    results, statuses = camera_with_deadline(kinds)
    account = FrameAccount(started_ns=0)
    outcomes, lost = replay(account, results, statuses)
    assert account.lost == kinds.count('d')
    assert lost == sorted(lost)                 # losses only grow as counts settle
    assert all(o in MEASURED + (FrameAccount.DUPLICATE,) for o in outcomes)


def test_a_count_taken_before_answers_arrive_counts_only_frames_captured_by_then():
    account = FrameAccount(started_ns=0)
    for i in range(10):
        account.see(seq=i, offload=True, stamp_ns=T0 + i * PERIOD, frame_id='camera',
                    arrival_ns=T0 + i * PERIOD + 40 * MS)
    account.camera_sent(5, T0 + 4 * PERIOD + MS)    # 5 sent by then: all answered
    assert account.lost == 0
    account.camera_sent(12, T0 + 11 * PERIOD + MS)  # 10 and 11 never answered
    assert account.lost == 2


def test_camera_restart_keeps_losses_and_starts_a_new_count():
    account = FrameAccount(started_ns=0)
    for i in (0, 1, 3):
        account.see(seq=i, offload=False, stamp_ns=T0 + i * PERIOD, frame_id='camera',
                    arrival_ns=T0 + i * PERIOD + 40 * MS)
    account.camera_sent(4, T0 + 3 * PERIOD + MS)
    assert account.lost == 1
    t1 = T0 + 10 * S                                # restarted: numbers from 0 again
    for i in (0, 1):
        account.see(seq=i, offload=False, stamp_ns=t1 + i * PERIOD, frame_id='camera',
                    arrival_ns=t1 + i * PERIOD + 40 * MS)
    account.camera_sent(3, t1 + 2 * PERIOD + MS)
    assert account.camera_restarts == 1 and account.lost == 2


def test_a_monitor_joining_a_running_camera_counts_from_the_first_count():
    start = T0 + 50 * PERIOD
    account = FrameAccount(started_ns=start)
    for i in range(45, 60):                          # 45..49 replayed history
        account.see(seq=i, offload=False, stamp_ns=T0 + i * PERIOD, frame_id='camera',
                    arrival_ns=T0 + i * PERIOD + 40 * MS)
    account.camera_sent(60, T0 + 59 * PERIOD + MS)
    assert account.lost == 0
    account.see(seq=61, offload=False, stamp_ns=T0 + 61 * PERIOD, frame_id='camera',
                arrival_ns=T0 + 61 * PERIOD + 40 * MS)
    account.camera_sent(62, T0 + 61 * PERIOD + MS)  # frame 60 never answered
    assert account.lost == 1


def test_without_a_camera_count_losses_come_from_each_numbering():
    only_camera = FrameAccount(started_ns=0)
    for i in (0, 1, 3):
        only_camera.see(seq=i, offload=False, stamp_ns=T0 + i * PERIOD, frame_id='c',
                        arrival_ns=T0 + i * PERIOD + MS)
    assert only_camera.lost == 1
    # Mixed, no status heard: the gaps in each numbering are frames answered in
    # the other (and those never answered cannot be told from them): none counted.
    results, _ = camera_with_deadline('eemhheelm' * 5)
    mixed = FrameAccount(started_ns=0)
    outcomes = [mixed.see(seq=r.seq, offload=r.mode == 'offload', stamp_ns=r.stamp_ns,
                          frame_id=r.frame_id, arrival_ns=r.arrival_ns) for r in results]
    assert mixed.lost == 0 and FrameAccount.JUMP not in outcomes
    edge = FrameAccount(started_ns=0)
    for j in (0, 1, 2, 5):
        edge.see(seq=j, offload=True, stamp_ns=T0 + j * PERIOD, frame_id='c',
                 arrival_ns=T0 + j * PERIOD + MS)
    assert edge.lost == 2


def test_forged_results_are_counted_and_add_no_losses():
    account = FrameAccount(started_ns=0)

    def see(seq: int, stamp_ns: int, arrival_ns: int, frame_id: str = 'camera') -> str:
        return account.see(seq=seq, offload=False, stamp_ns=stamp_ns, frame_id=frame_id,
                           arrival_ns=arrival_ns)
    assert see(0, T0, T0 + MS) == FrameAccount.NEW
    assert see(0, T0, T0 + 2 * MS) == FrameAccount.DUPLICATE
    assert see(2**64 - 1, T0 + PERIOD, T0 + PERIOD + MS) == FrameAccount.JUMP
    assert see(1, T0 + 2 * PERIOD, T0 + 2 * PERIOD + MS) == FrameAccount.NEW
    # Same stamp, other frame_id: another camera's frame.
    assert see(2, T0 + 2 * PERIOD, T0 + 2 * PERIOD + MS, 'camera2') == FrameAccount.NEW
    assert account.answered == 3                     # the jump is not an answer
    account.camera_sent(3, T0 + 3 * PERIOD)
    assert account.lost == 0


def test_memory_is_bounded_and_a_future_stamp_moves_no_bound():
    account = FrameAccount(window=64, started_ns=0)
    far = T0 + 10**6 * S
    assert account.see(seq=0, offload=False, stamp_ns=far, frame_id='x',
                       arrival_ns=T0) == FrameAccount.NEW
    for i in range(1, 5000):
        stamp = T0 + i * MS
        assert account.see(seq=i, offload=False, stamp_ns=stamp, frame_id='camera',
                           arrival_ns=stamp + MS) == FrameAccount.NEW
        assert len(account._keys) <= 64 and len(account._recent) <= 64
    assert account.answered == 5000
    # Older than every frame remembered: cannot be told from a duplicate.
    assert account.see(seq=10, offload=False, stamp_ns=T0 + 10 * MS, frame_id='camera',
                       arrival_ns=T0 + 6 * S) == FrameAccount.STALE
    account.camera_sent(5000, T0 + 6 * S)
    assert account.lost == 0


def test_window_must_hold_two_frames():
    with pytest.raises(ValueError):
        FrameAccount(window=1)
