"""The robot's frames in flight, a deadline per frame, and the edge's liveness: ROS-free.

With a deadline set, the camera node enters every frame it sends to the edge
in a :class:`FrameLedger` with what a local answer needs (the whole model's
input), and matches the edge's results to it by capture stamp and frame_id
(not by ``seq``: an edge may number results its own way). The deadline is when
the frame's answer is out: a frame without a result by ``deadline - lead`` is
taken from the table to be classified on the robot (``answered_fallback``),
where the lead is the robot's measured time to answer a frame
(:meth:`FrameLedger.note_local` keeps an exponentially weighted mean) plus
``slack_s`` (how late the caller may notice a frame is due), at most half the
deadline, so the edge always gets at least half of it. A frame already older
than ``max_age_s`` when it is due is dropped instead (``dropped_stale``: such
an answer is worth nothing).
An edge result for a frame already answered or dropped is counted as late
(or, for one the edge answered before, as a duplicate) and not used.

Every frame ends as exactly one of :data:`OUTCOMES`; until then it is in
flight. So ``frames == sum(outcomes) + in_flight`` holds at every step, and
memory is bounded: at most ``capacity`` frames in flight (the oldest is
dropped as ``dropped_overflow`` to admit a new one) and ``remember`` answered
keys kept to recognise late results.

:class:`EdgeLiveness` says whether a frame should go to the edge at all: only
while the edge's subscription is matched (from DDS) and the last
``lost_after`` frames did not all miss their deadline. While the edge is
lost, the camera answers new frames on the robot at once; a frame is still
sent to a matched edge as a probe (with its own deadline), the first
``probe_period_s`` after the last, then at doubling intervals up to
``max_probe_period_s`` (a SIGKILLed edge stays matched until its DDS lease
ends, and each unanswered probe costs a fallback); a new match (an edge
restarted) or a probe answered in time brings the edge back at once and
resets the interval.

:func:`read_account` and :func:`describe_account` are the monitor's side: the
camera's counts, as its ``/diagnostics`` status gives them.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable, Mapping

__all__ = ['ACCOUNT_KEYS', 'ANSWERED_EDGE', 'ANSWERED_FALLBACK', 'ANSWERED_LOCAL', 'DROPPED',
           'EdgeLiveness', 'Frame', 'FrameLedger', 'OUTCOMES', 'describe_account',
           'read_account']

ANSWERED_EDGE = 'answered_edge'          # the edge's result arrived within the deadline
ANSWERED_FALLBACK = 'answered_fallback'  # the robot ran the whole model (deadline missed, or
#                                          no live edge to send it to)
ANSWERED_LOCAL = 'answered_local'        # the camera was in local mode: no edge involved
# Frames dropped, and why: evicted from a full table; deadline passed long ago
# when the camera got to it; its key (stamp, frame_id) reused by a newer frame;
# the local classification failed; the node was cleaned up while it was in flight.
DROPPED = ('dropped_overflow', 'dropped_stale', 'dropped_reused_key', 'dropped_error',
           'dropped_shutdown')
OUTCOMES: tuple[str, ...] = (ANSWERED_EDGE, ANSWERED_FALLBACK, ANSWERED_LOCAL, *DROPPED)
# What the camera's /diagnostics status carries about its frames (integers).
ACCOUNT_KEYS: tuple[str, ...] = (*OUTCOMES, 'in_flight', 'late_results', 'duplicate_results',
                                 'mode_switches')


@dataclass(eq=False)
class Frame:
    """One frame sent to the edge and not yet answered."""

    key: Hashable
    seq: int
    started_s: float          # when the frame was read (monotonic clock, seconds)
    deadline_s: float         # started_s + the ledger's deadline: its answer is out by then
    data: object = None       # what answering it locally needs
    outcome: str = ''         # set once, by the ledger


class FrameLedger:
    """See the module docstring. Times are seconds on one monotonic clock."""

    # answer() says of a result:
    MATCHED = 'matched'       # in time: the frame is answered_edge
    LATE = 'late'             # its frame was answered by fallback or dropped
    DUPLICATE = 'duplicate'   # its frame was answered by the edge already
    UNKNOWN = 'unknown'       # not a frame of this ledger (another camera's, or forgotten)

    def __init__(self, *, deadline_s: float, capacity: int = 32,
                 max_age_s: float | None = None, remember: int = 1024,
                 slack_s: float = 0.0, alpha: float = 0.2) -> None:
        if not deadline_s > 0 or capacity < 1 or remember < capacity or slack_s < 0 \
                or not 0 < alpha <= 1:
            raise ValueError('deadline_s must be > 0, capacity >= 1, remember >= capacity, '
                             'slack_s >= 0 and alpha in (0, 1]')
        self.deadline_s = deadline_s
        self.slack_s = slack_s
        self.alpha = alpha
        self.local_s = math.nan   # the robot's time to answer a frame (EWMA); NaN: unknown
        self.max_age_s = max(deadline_s, max_age_s if max_age_s is not None else 2 * deadline_s)
        self.capacity = capacity
        self.remember = remember
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.late_results = self.duplicate_results = self.unknown_results = 0
        self._open: OrderedDict[Hashable, Frame] = OrderedDict()   # in deadline order
        self._done: OrderedDict[Hashable, str] = OrderedDict()      # key -> outcome
        self._taken = 0           # taken by next_due(), not yet settled

    # -- counts ----------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Frames without an outcome yet."""
        return len(self._open) + self._taken

    @property
    def frames(self) -> int:
        """Frames entered (or recorded) so far."""
        return sum(self.counts.values()) + self.in_flight

    def account(self) -> dict[str, int]:
        """The counts of :data:`ACCOUNT_KEYS` this ledger keeps (all but ``mode_switches``)."""
        return {**self.counts, 'in_flight': self.in_flight, 'late_results': self.late_results,
                'duplicate_results': self.duplicate_results}

    @property
    def lead_s(self) -> float:
        """How long before its deadline a frame without a result is due for
        fallback: the robot's answer time plus ``slack_s``, at most half the deadline."""
        local = 0.0 if math.isnan(self.local_s) else self.local_s
        return min(local + self.slack_s, self.deadline_s / 2)

    def note_local(self, seconds: float) -> None:
        """The robot took ``seconds`` to answer a frame (warm-up, local or
        fallback classification); non-finite or negative values are ignored."""
        if not (math.isfinite(seconds) and seconds >= 0):
            return
        self.local_s = seconds if math.isnan(self.local_s) else \
            self.local_s + self.alpha * (seconds - self.local_s)

    # -- frames ----------------------------------------------------------
    def add(self, key: Hashable, seq: int, now_s: float, data: object = None) -> list[Frame]:
        """Enter a frame sent to the edge at ``now_s``; return the frames it
        displaced (already counted: the oldest as ``dropped_overflow`` when the
        table is full, one with the same key as ``dropped_reused_key``)."""
        dropped = []
        old = self._open.pop(key, None)
        if old is not None:
            self._settle(old, 'dropped_reused_key')
            dropped.append(old)
        while len(self._open) >= self.capacity:
            _, oldest = self._open.popitem(last=False)
            self._settle(oldest, 'dropped_overflow')
            dropped.append(oldest)
        self._open[key] = Frame(key, seq, now_s, now_s + self.deadline_s, data)
        return dropped

    def record(self, outcome: str) -> None:
        """Count a frame that was answered without going in flight (local mode,
        or answered on the robot at once while the edge is lost)."""
        if outcome not in self.counts:
            raise ValueError(f'unknown outcome {outcome!r}')
        self.counts[outcome] += 1

    def answer(self, key: Hashable) -> tuple[str, Frame | None]:
        """An edge result for ``key`` arrived: one of the class's result kinds,
        and the frame when it was ``MATCHED`` (then counted ``answered_edge``)."""
        frame = self._open.pop(key, None)
        if frame is not None:
            self._settle(frame, ANSWERED_EDGE)
            return self.MATCHED, frame
        outcome = self._done.get(key)
        if outcome is None:
            self.unknown_results += 1
            return self.UNKNOWN, None
        if outcome == ANSWERED_EDGE:
            self.duplicate_results += 1
            return self.DUPLICATE, None
        self.late_results += 1
        return self.LATE, None

    def next_deadline(self) -> float | None:
        """When the oldest frame in flight is due for fallback (its deadline less
        :attr:`lead_s`); None when none is in flight."""
        for frame in self._open.values():
            return frame.deadline_s - self.lead_s
        return None

    def next_due(self, now_s: float) -> Frame | None:
        """The oldest frame due for fallback by ``now_s`` (no result by its
        deadline less :attr:`lead_s`), taken out of the table: the caller
        answers it and then calls :meth:`settle` on it. Frames older than
        ``max_age_s`` on the way are counted ``dropped_stale``."""
        lead = self.lead_s
        while self._open:
            key, frame = next(iter(self._open.items()))
            if frame.deadline_s - lead > now_s:
                return None
            del self._open[key]
            if now_s - frame.started_s > self.max_age_s:
                self._settle(frame, 'dropped_stale')
                continue
            self._taken += 1
            self._remember(key, '')      # a result arriving now is late
            return frame
        return None

    def settle(self, frame: Frame, outcome: str) -> None:
        """Give a frame taken by :meth:`next_due` its outcome
        (``answered_fallback``, or a ``dropped_*`` reason)."""
        if frame.outcome or self._taken < 1:
            raise ValueError(f'frame seq={frame.seq} already has outcome {frame.outcome!r} '
                             'or was not taken')
        self._taken -= 1
        self._settle(frame, outcome)

    def drop_all(self, outcome: str = 'dropped_shutdown') -> int:
        """Drop every frame in flight (the node is being cleaned up); how many."""
        n = len(self._open)
        while self._open:
            self._settle(self._open.popitem(last=False)[1], outcome)
        return n

    def _settle(self, frame: Frame, outcome: str) -> None:
        if outcome not in self.counts:
            raise ValueError(f'unknown outcome {outcome!r}')
        frame.outcome = outcome
        frame.data = None             # what a local answer needed is not kept
        self.counts[outcome] += 1
        self._remember(frame.key, outcome)

    def _remember(self, key: Hashable, outcome: str) -> None:
        self._done.pop(key, None)
        self._done[key] = outcome
        while len(self._done) > self.remember:
            self._done.popitem(last=False)


class EdgeLiveness:
    """Whether the edge answers (see the module docstring). ``matched`` is the
    edge-bound publisher's matched subscription count, from DDS."""

    def __init__(self, *, lost_after: int = 3, probe_period_s: float = 1.0,
                 max_probe_period_s: float = 8.0) -> None:
        if lost_after < 1 or probe_period_s < 0 or max_probe_period_s < probe_period_s:
            raise ValueError('lost_after must be >= 1 and 0 <= probe_period_s <= '
                             'max_probe_period_s')
        self.lost_after = lost_after
        self.probe_period_s = probe_period_s
        self.max_probe_period_s = max_probe_period_s
        self.matched = 0
        self.misses = 0               # deadline misses since the last result in time
        self.probes = 0
        self.period_s = probe_period_s   # wait after the next probe for the one after
        self._last_probe_s = -math.inf
        self._next_probe_s = -math.inf

    @property
    def alive(self) -> bool:
        """A subscriber is matched and the last ``lost_after`` frames did not all miss."""
        return self.matched > 0 and self.misses < self.lost_after

    @property
    def why_not(self) -> str:
        """Why the edge is not alive ('' when it is)."""
        if self.matched <= 0:
            return 'no subscriber matched'
        if self.misses >= self.lost_after:
            return f'the last {self.misses} frames missed their deadline'
        return ''

    def update_matched(self, count: int) -> None:
        """The matched subscription count now; a rise is an edge (re)appearing,
        which is given a fresh chance."""
        if count > self.matched:
            self._reset_backoff()
        self.matched = count

    def answered(self) -> None:
        """A result came within its deadline."""
        self._reset_backoff()

    def missed(self) -> None:
        """A frame sent to the edge missed its deadline."""
        self.misses += 1

    def probe_due(self, now_s: float) -> bool:
        """Whether a lost but matched edge is due a probe at ``now_s``."""
        return self.matched > 0 and now_s >= self._next_probe_s

    def should_send(self, now_s: float) -> bool:
        """Whether the frame read at ``now_s`` goes to the edge: while it is
        alive, and while it is lost but matched, as a probe when one is due
        (each probe doubles the wait for the next, up to ``max_probe_period_s``)."""
        if self.alive:
            return True
        if self.probe_due(now_s):
            self._last_probe_s = now_s
            self._next_probe_s = now_s + self.period_s
            self.period_s = min(2 * self.period_s, self.max_probe_period_s)
            self.probes += 1
            return True
        return False

    def _reset_backoff(self) -> None:
        """The edge answered, or a new one matched: misses forgotten, probes at
        ``probe_period_s`` again if it is lost later."""
        self.misses = 0
        self.period_s = self.probe_period_s
        self._next_probe_s = self._last_probe_s + self.probe_period_s


def read_account(values: Mapping[str, str]) -> dict[str, int]:
    """The :data:`ACCOUNT_KEYS` among a camera's /diagnostics ``values``;
    ``ValueError`` for one that is not an integer in [0, 2**63)."""
    account = {}
    for key in ACCOUNT_KEYS:
        text = values.get(key)
        if text is None:
            continue
        value = int(text)
        if not 0 <= value < 2**63:
            raise ValueError(f'{key} out of range')
        account[key] = value
    return account


def describe_account(account: Mapping[str, int]) -> str:
    """One line of a camera's frame account, e.g. ``camera: 90 edge, 8 fallback,
    0 local, 2 dropped (stale 2), 1 in flight, 3 late, 2 mode switches``; '' when empty."""
    if not account:
        return ''
    drops = {k.removeprefix('dropped_'): account.get(k, 0) for k in DROPPED}
    dropped = sum(drops.values())
    why = ', '.join(f'{k} {n}' for k, n in drops.items() if n)
    return (f'camera: {account.get(ANSWERED_EDGE, 0)} edge, '
            f'{account.get(ANSWERED_FALLBACK, 0)} fallback, {account.get(ANSWERED_LOCAL, 0)} '
            f'local, {dropped} dropped' + (f' ({why})' if why else '') +
            f', {account.get("in_flight", 0)} in flight, {account.get("late_results", 0)} late, '
            f'{account.get("mode_switches", 0)} mode switches')
