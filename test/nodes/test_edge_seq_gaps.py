"""SeqGaps: frames lost before the edge's callback, counted from gaps in each
source's numbers, robust to restarts, duplicates and forged numbers."""
from __future__ import annotations

from bottlefit_ros.runtime import SeqGaps


def test_gaps_counted_per_source() -> None:
    gaps = SeqGaps()
    for source, seq in [('a', 0), ('b', 0), ('a', 1), ('a', 4), ('b', 1), ('b', 10), ('a', 5)]:
        gaps.update(source, seq)
    assert gaps.missed == 2 + 8
    assert gaps.discontinuities == 0


def test_first_number_of_a_source_is_compared_with_where_sources_start() -> None:
    gaps = SeqGaps(max_gap=1000)
    assert gaps.update('a', 0) == 0
    assert gaps.update('b', 1, first=1) == 0
    assert gaps.update('c', 5) == 5               # 0..4 sent before we heard c
    assert gaps.update('d', 50_000) == 0          # started long before us
    assert (gaps.missed, gaps.discontinuities) == (5, 1)
    assert gaps.unheard == 5                      # all before c's first number here
    assert gaps.update('c', 8) == 2
    assert (gaps.missed, gaps.unheard) == (7, 5)  # 6, 7 went missing later


def test_first_none_counts_from_the_first_number_seen() -> None:
    gaps = SeqGaps(max_gap=1000)
    assert gaps.update('driver', 700, first=None) == 0     # running long before us
    assert gaps.update('driver', 703, first=None) == 2
    assert (gaps.missed, gaps.discontinuities) == (2, 0)


def test_restart_duplicate_and_forged_jump_are_discontinuities_not_losses() -> None:
    gaps = SeqGaps(max_gap=1000)
    #       dup restart    forged  back  1000 missed  jump
    seqs = [0, 1, 2, 2, 0, 1, 2, 2**64 - 1, 0, 1001, 3003]
    for seq in seqs:
        gaps.update('cam', seq)
    assert gaps.missed == 1000
    assert gaps.discontinuities == 5


def test_sources_remembered_are_bounded() -> None:
    gaps = SeqGaps(max_sources=4)
    for i in range(1000):
        gaps.update(f'forged-{i}', 0)
    assert len(gaps._last) == 4
    gaps.update('forged-999', 2)       # still known: the gap counts
    assert gaps.missed == 1
