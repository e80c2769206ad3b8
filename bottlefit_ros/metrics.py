"""Per-frame records and their summary: pure functions from timestamps to
metrics (units in names), shared by the monitor node, the demo and benchmarks.

End-to-end latency is measured on the robot's clock: from the frame's capture
stamp to the result's arrival at the monitor, which runs beside the camera.
``transport_ms`` is what remains after the compute stages: network, DDS and
queueing, both ways. It needs no clock synchronisation between robot and edge.
"""
from __future__ import annotations

import json
import math
import random
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Collection, Iterable, Sequence

import numpy as np

from bottlefit_ros.inflight import describe_account

STAGES: tuple[str, ...] = ('preprocess_ms', 'head_ms', 'encode_ms', 'transport_ms',
                           'decode_ms', 'tail_ms', 'e2e_ms')


@dataclass
class FrameRecord:
    """What the monitor knows about one delivered frame."""

    seq: int
    mode: str
    model: str
    stamp_ns: int            # capture time, robot clock
    arrival_ns: int          # result arrival at the monitor, robot clock
    preprocess_ms: float
    head_ms: float
    encode_ms: float
    decode_ms: float
    tail_ms: float
    payload_bytes: int
    top1_id: int
    top1_label: str
    top1_score: float
    energy_j: float = float('nan')
    energy_measured: bool = False
    energy_method: str = ''
    energy_compute_j: float = float('nan')   # the part spent in the robot's compute stages

    @property
    def e2e_ms(self) -> float:
        """Capture to result arrival, milliseconds."""
        return (self.arrival_ns - self.stamp_ns) / 1e6

    @property
    def robot_compute_ms(self) -> float:
        """Time the robot's processor worked on this frame."""
        return self.preprocess_ms + self.head_ms + self.encode_ms

    @property
    def transport_ms(self) -> float:
        """End-to-end time not spent computing: network, middleware, queues."""
        return max(0.0, self.e2e_ms - self.robot_compute_ms - self.decode_ms - self.tail_ms)

    def row(self) -> dict[str, object]:
        """The record as one CSV row (with the derived columns)."""
        d = asdict(self)
        d['e2e_ms'] = round(self.e2e_ms, 3)
        d['transport_ms'] = round(self.transport_ms, 3)
        return d


CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FrameRecord)) + ('e2e_ms',
                                                                             'transport_ms')


@dataclass
class Summary:
    """Summary of a run (or of the frames seen so far)."""

    frames_delivered: int = 0
    frames_lost: int = 0
    # Counted reasons for frames lost (e.g. replaced by newer at the edge), and
    # what no counter explains: frames_lost - their sum, never below 0.
    lost_by_reason: dict[str, int] = field(default_factory=dict)
    lost_uncounted: int = 0
    duration_s: float = 0.0
    fps: float = 0.0
    modes: list[str] = field(default_factory=list)
    model: str = ''
    top_labels: list[tuple[str, int]] = field(default_factory=list)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> p50/p95
    bytes_per_frame: float = 0.0
    energy_j_per_frame: float = float('nan')
    energy_compute_j_per_frame: float = float('nan')
    mean_power_w: float = float('nan')
    energy_measured: bool = False
    energy_method: str = ''
    # The camera's frame outcomes as it last reported them (bottlefit_ros.inflight;
    # empty without a deadline on the camera).
    camera_account: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> 'Summary':
        d = json.loads(text)
        d['top_labels'] = [tuple(x) for x in d.get('top_labels', [])]
        return cls(**d)


def percentiles(values: Sequence[float], qs: Iterable[float] = (50, 95)) -> dict[str, float]:
    """``{'p50': ..., 'p95': ...}`` of ``values`` (NaN when empty)."""
    arr = np.asarray(values, dtype=float)
    return {f'p{q:g}': (float(np.percentile(arr, q)) if arr.size else float('nan')) for q in qs}


def frames_lost(distinct_seqs: int, highest_seq: int, frames_sent: int | None = None) -> int:
    """Frames sent (or, when unknown, the highest sequence number seen + 1)
    minus the distinct frames delivered."""
    sent = frames_sent if frames_sent is not None else highest_seq + 1
    return max(0, sent - distinct_seqs)


# What the monitor accepts as a measurement (see result_problem).
MAX_STAGE_MS = 60_000.0     # a compute stage reported longer than a minute is not a timing
MAX_TEXT_CHARS = 256        # model names and labels
MAX_CLASSES = 1000          # classes per result
REJECT_REASONS: tuple[str, ...] = ('bad_stamp', 'bad_classes', 'bad_scores', 'bad_timings',
                                   'bad_mode', 'bad_text', 'too_large', 'internal_error')


def stamp_to_ns(sec: int, nanosec: int) -> int | None:
    """Nanoseconds of a ``builtin_interfaces/Time``, or None when it is no valid
    time (negative seconds, or ``nanosec`` of a second or more)."""
    if sec < 0 or not 0 <= nanosec < 1_000_000_000:
        return None
    return sec * 1_000_000_000 + nanosec


def result_problem(*, mode: str, model: str, class_ids: Sequence[int], labels: Sequence[str],
                   scores: Sequence[float], payload_bytes: int, timings: Sequence[float],
                   modes: Collection[str], max_payload_bytes: int) -> tuple[str, str] | None:
    """Why one result cannot be measured, as ``(reason, explanation)`` with
    ``reason`` one of :data:`REJECT_REASONS`, or None when every field is plausible:
    1 to :data:`MAX_CLASSES` classes with as many labels and scores, scores in
    [0, 1], stage timings finite in [0, :data:`MAX_STAGE_MS`], ``payload_bytes`` at
    most ``max_payload_bytes``, ``mode`` one of ``modes``, names and labels at most
    :data:`MAX_TEXT_CHARS` characters. Explanations quote no message text."""
    n = len(class_ids)
    if not 0 < n <= MAX_CLASSES or len(labels) != n or len(scores) != n:
        return 'bad_classes', (f'{n} class ids, {len(labels)} labels, {len(scores)} scores '
                               f'(1 to {MAX_CLASSES} of each expected)')
    arr = np.asarray(scores, dtype=float)
    if not np.all((arr >= 0.0) & (arr <= 1.0)):   # NaN fails both
        return 'bad_scores', f'scores outside [0, 1] or NaN (top score {float(arr[0])!r})'
    if not all(0.0 <= t <= MAX_STAGE_MS for t in timings):   # NaN fails too
        return 'bad_timings', (f'stage timings {[float(t) for t in timings]} ms not all '
                               f'within [0, {MAX_STAGE_MS:g}]')
    if not 0 <= payload_bytes <= max_payload_bytes:
        return 'too_large', f'payload_bytes {payload_bytes} over the limit of {max_payload_bytes}'
    if mode not in modes:
        return 'bad_mode', f'mode of {len(mode)} characters is none of {", ".join(modes)}'
    if len(model) > MAX_TEXT_CHARS or any(len(label) > MAX_TEXT_CHARS for label in labels):
        return 'bad_text', f'model name or label longer than {MAX_TEXT_CHARS} characters'
    return None


class SeqTracker:
    """Frames lost, from the sequence numbers of the results that arrive, in fixed
    memory and robust to what a camera, the network or a forger can do:

    - a seq seen again with the same stamp is a ``DUPLICATE`` (not a new frame);
    - a seq below the highest, not yet seen, within ``window`` is ``LATE``: it was
      counted lost when the gap opened, and no longer is;
    - a seq that leaves the numbering, more than ``max_jump`` ahead or back at or
      below the highest with a stamp later than every stamp so far, is a ``JUMP``
      (counted, not tracked: one forged or corrupt seq adds no losses), unless it
      continues from the previous jump: then the camera restarted or really is
      there, a ``RESTART`` begins a new epoch from that jump (losses so far are
      kept, none is assumed before it);
    - a seq below the window or the epoch's start, or, after a restart, a stamp
      older than the restart, is ``STALE``: too old to tell from a duplicate, or
      from the camera before it restarted.

    The first epoch counts from seq 0 (the camera numbers from 0) unless the
    monitor joined a running camera: its first result was captured before
    ``started_ns`` (the monitor's start) or its seq is beyond ``max_jump``.
    Stamps count for restarts no later than their arrival, so one forged stamp
    from the future cannot hide the next restart.
    """

    NEW, LATE, DUPLICATE, STALE, RESTART, JUMP = (
        'new', 'late', 'duplicate', 'stale', 'restart', 'jump')

    def __init__(self, *, window: int = 1024, max_jump: int = 10_000,
                 started_ns: int = 0) -> None:
        if window < 1 or max_jump < 0:
            raise ValueError('window must be at least 1 and max_jump at least 0')
        self.window, self.max_jump, self.started_ns = window, max_jump, started_ns
        self.lost = 0            # frames never delivered, over the whole run
        self.restarts = 0        # epochs begun after the first
        self._highest: int | None = None
        self._base = 0
        self._latest_ns = 0
        self._epoch_ns: int | None = None     # first stamp after the last restart
        self._pending: tuple[int, int, int] | None = None   # the last JUMP
        self._seqs = [-1] * window      # seq % window -> last seq seen there
        self._stamps = [0] * window

    def see(self, seq: int, stamp_ns: int, arrival_ns: int) -> str:
        """Account for one result; return its outcome (one of the class constants)."""
        if self._highest is None:
            joined = stamp_ns < self.started_ns or seq > self.max_jump
            self._start(seq, stamp_ns, arrival_ns, seq if joined else 0)
            return self.NEW
        slot = seq % self.window
        seen = self._seqs[slot] == seq
        if seen and self._stamps[slot] == stamp_ns:
            return self.DUPLICATE
        if self._epoch_ns is not None and stamp_ns < self._epoch_ns:
            return self.STALE
        if self._highest < seq <= self._highest + self.max_jump + 1:
            self.lost += seq - self._highest - 1
            self._highest = seq
            self._pending = None
            self._mark(seq, stamp_ns, arrival_ns)
            return self.NEW
        if seq > self._highest or stamp_ns > self._latest_ns:
            return self._jump(seq, stamp_ns, arrival_ns)
        if seen:
            return self.DUPLICATE           # same seq, another (older) stamp: a corrupted copy
        if seq < self._base or seq <= self._highest - self.window:
            return self.STALE
        self.lost -= 1
        self._mark(seq, stamp_ns, arrival_ns)
        return self.LATE

    def _jump(self, seq: int, stamp_ns: int, arrival_ns: int) -> str:
        pending = self._pending
        if pending is not None and 0 < seq - pending[0] <= self.max_jump + 1:
            self.restarts += 1
            self._start(pending[0], pending[1], pending[2], pending[0])
            self._epoch_ns = min(pending[1], stamp_ns)
            self.lost += seq - pending[0] - 1
            self._highest = seq
            self._mark(seq, stamp_ns, arrival_ns)
            return self.RESTART
        self._pending = (seq, stamp_ns, arrival_ns)
        return self.JUMP

    def _start(self, seq: int, stamp_ns: int, arrival_ns: int, base: int) -> None:
        self._seqs = [-1] * self.window
        self._base, self._highest, self._latest_ns = base, seq, 0
        self._pending = None
        self.lost += seq - base
        self._mark(seq, stamp_ns, arrival_ns)

    def _mark(self, seq: int, stamp_ns: int, arrival_ns: int) -> None:
        slot = seq % self.window
        self._seqs[slot], self._stamps[slot] = seq, stamp_ns
        self._latest_ns = max(self._latest_ns, min(stamp_ns, arrival_ns))


class FrameAccount:
    """Which results to measure and how many frames were lost, in fixed memory,
    with results told apart by frame: its capture stamp and ``frame_id`` (what the
    camera matches results by), not its ``seq``, which is the camera's number for
    ``split``, ``local`` and ``fallback`` results but the edge's (the JPEG topic's
    DDS sample number) for ``offload`` results: the two collide or jump whenever a
    camera mixes modes.

    :meth:`see` says of one result, in this order: ``DUPLICATE`` when a result for
    its frame was already accounted; ``STALE`` when its stamp is older than the
    frames this account still remembers (``window`` of them); otherwise what the
    :class:`SeqTracker` of its numbering says (one for the camera's numbers, one
    for the edge's), so a forged seq is still a ``JUMP`` and a camera restart a
    ``RESTART``. Results that are ``NEW``, ``LATE`` or ``RESTART`` (and the jump a
    restart confirms) are frames answered.

    Frames lost (:attr:`lost`): with a camera's count of frames sent
    (:meth:`camera_sent`, from its status, once no result for those frames can
    still be in flight), the frames sent minus the distinct frames answered that
    were captured by the time of that count; right whatever the modes. A count
    lower than the last one is a camera restart: the losses so far are kept and
    a new count starts. Losses are counted from the monitor's start
    (``started_ns``), or, when a result captured before it showed that the camera
    was already running, from the first count heard. Without a camera's count,
    the gaps in the one numbering the results carry; with both numberings (a
    camera mixing modes) and no count, none are counted: the gaps in each are
    the frames answered in the other.

    Answer times are ``min(stamp, arrival)``: a stamp forged far into the future
    moves no bound.
    """

    NEW, LATE, DUPLICATE, STALE, RESTART, JUMP = (
        SeqTracker.NEW, SeqTracker.LATE, SeqTracker.DUPLICATE, SeqTracker.STALE,
        SeqTracker.RESTART, SeqTracker.JUMP)
    _ANSWERED = (NEW, LATE, RESTART)

    def __init__(self, *, window: int = 4096, max_jump: int = 10_000,
                 started_ns: int = 0) -> None:
        if window < 2:
            raise ValueError('window must be at least 2')
        self.window, self.started_ns = window, started_ns
        self.camera = SeqTracker(window=min(window, 1024), max_jump=max_jump,
                                 started_ns=started_ns)
        self.edge = SeqTracker(window=min(window, 1024), max_jump=max_jump,
                               started_ns=started_ns)
        self.offload_results = 0      # results numbered by the edge that were answers
        self.camera_restarts = 0      # counts of frames sent that went back
        self._keys: OrderedDict[tuple[int, str], int] = OrderedDict()   # -> answer time
        self._floor_ns = -1           # the latest answer time of a forgotten key
        self._pending: dict[int, tuple[tuple[int, str], int]] = {}  # id(tracker) -> last JUMP
        self._folded, self._cut_ns = 0, -1   # answers at or before _cut_ns
        self._recent: list[int] = []         # answer times after _cut_ns
        self._joined = False          # a result captured before started_ns came
        self._sent: int | None = None   # the camera's last count
        self._answered_then = 0         # and the frames answered by its time
        self._epoch = (0, 0)          # (count, answers) where the current count starts
        self._epoch_lost = self._closed_lost = 0

    @property
    def answered(self) -> int:
        """Distinct frames answered so far."""
        return self._folded + len(self._recent)

    @property
    def lost(self) -> int:
        """Frames lost so far (see the class docstring)."""
        if self._sent is not None:
            return self._closed_lost + self._epoch_lost
        if self.offload_results and self.answered > self.offload_results:
            return 0      # both numberings: each one's gaps are the other's frames
        return self.edge.lost + self.camera.lost

    def see(self, *, seq: int, offload: bool, stamp_ns: int, frame_id: str,
            arrival_ns: int) -> str:
        """Account for one result with a valid stamp; return its outcome."""
        key = (stamp_ns, frame_id[:MAX_TEXT_CHARS])
        if key in self._keys:
            return self.DUPLICATE
        if stamp_ns <= self._floor_ns:
            return self.STALE
        tracker = self.edge if offload else self.camera
        outcome = tracker.see(seq, stamp_ns, arrival_ns)
        at_ns = min(stamp_ns, arrival_ns)
        if outcome == self.JUMP:
            self._pending[id(tracker)] = (key, at_ns)
        elif outcome in self._ANSWERED:
            if outcome == self.RESTART and id(tracker) in self._pending:
                self._answer(*self._pending.pop(id(tracker)), offload)
            self._answer(key, at_ns, offload)
            self._joined = self._joined or stamp_ns < self.started_ns
        return outcome

    def camera_sent(self, frames_sent: int, stamp_ns: int) -> None:
        """A camera's count of frames sent, as its status gave it at ``stamp_ns``
        (the capture clock); give it only once results for those frames have had
        time to arrive."""
        answered = self._answered_by(stamp_ns)
        if self._sent is None:
            self._epoch = (frames_sent, answered) if self._joined else (0, 0)
        elif frames_sent < self._sent:    # the camera restarted: a new count
            self.camera_restarts += 1
            self._closed_lost += self._epoch_lost
            self._epoch = (0, self._answered_then)
        self._sent, self._answered_then = frames_sent, answered
        base_sent, base_answered = self._epoch
        self._epoch_lost = max(0, frames_sent - base_sent - (answered - base_answered))

    def _answer(self, key: tuple[int, str], at_ns: int, offload: bool) -> None:
        self._keys[key] = at_ns
        if len(self._keys) > self.window:
            _, old_ns = self._keys.popitem(last=False)
            self._floor_ns = max(self._floor_ns, old_ns)
        self.offload_results += offload
        if at_ns <= self._cut_ns:
            self._folded += 1
            return
        self._recent.append(at_ns)
        if len(self._recent) > self.window:   # no camera count heard for long: fold half
            self._recent.sort()
            half = len(self._recent) // 2
            self._folded += half
            self._cut_ns = self._recent[half - 1]
            del self._recent[:half]

    def _answered_by(self, stamp_ns: int) -> int:
        """Frames answered at or before ``stamp_ns`` (fold them)."""
        if stamp_ns > self._cut_ns:
            keep = [t for t in self._recent if t > stamp_ns]
            self._folded += len(self._recent) - len(keep)
            self._recent, self._cut_ns = keep, stamp_ns
        return self._folded


class RunningSummary:
    """A :class:`Summary` of a stream of records in bounded memory, however long
    the run: counts, sums and extremes for the totals and means; a uniform
    fixed-size sample of the stage latencies (reservoir sampling, Vitter's
    algorithm R) for the percentiles, exact while the run has at most
    ``reservoir_size`` frames; at most ``max_labels`` distinct top-1 labels
    (later new labels are counted as ``OTHER_LABEL``)."""

    OTHER_LABEL = '(other labels)'
    MAX_MODES = 16

    def __init__(self, *, reservoir_size: int = 8192, max_labels: int = 4096,
                 seed: int = 0) -> None:
        if reservoir_size < 1 or max_labels < 1:
            raise ValueError('reservoir_size and max_labels must be at least 1')
        self._sample = np.empty((reservoir_size, len(STAGES)), dtype=float)
        self._max_labels = max_labels
        self._seed = seed
        self.clear()

    def clear(self) -> None:
        """Forget every record (the sample's memory is kept for reuse)."""
        self._rng = random.Random(self._seed)
        self._n = 0
        self._labels: Counter[str] = Counter()
        self._modes: set[str] = set()
        self._model = ''
        self._first_arrival_ns = self._last_arrival_ns = self._first_stamp_ns = 0
        self._payload_sum = 0
        self._energy_n = 0
        self._energy_sum = self._energy_compute_sum = self._energy_busy_ms = 0.0
        self._all_measured = True
        self._energy_method = ''

    def __len__(self) -> int:
        """Records added since the last :meth:`clear`."""
        return self._n

    @property
    def held(self) -> int:
        """Latency samples held in memory (at most ``reservoir_size``)."""
        return min(self._n, len(self._sample))

    @property
    def distinct_labels(self) -> int:
        """Label counters held in memory (at most ``max_labels`` + 1)."""
        return len(self._labels)

    def add(self, r: FrameRecord) -> None:
        """Count one delivered frame."""
        e2e_ms = r.e2e_ms
        if self._n == 0:
            self._first_arrival_ns = self._last_arrival_ns = r.arrival_ns
            self._first_stamp_ns = r.stamp_ns
        else:
            self._first_arrival_ns = min(self._first_arrival_ns, r.arrival_ns)
            self._last_arrival_ns = max(self._last_arrival_ns, r.arrival_ns)
            self._first_stamp_ns = min(self._first_stamp_ns, r.stamp_ns)
        slot = self._n if self._n < len(self._sample) else self._rng.randrange(self._n + 1)
        if slot < len(self._sample):
            self._sample[slot] = (r.preprocess_ms, r.head_ms, r.encode_ms, r.transport_ms,
                                  r.decode_ms, r.tail_ms, e2e_ms)
        self._n += 1
        label = r.top1_label
        if label in self._labels or len(self._labels) < self._max_labels:
            self._labels[label] += 1
        else:
            self._labels[self.OTHER_LABEL] += 1
        if len(self._modes) < self.MAX_MODES:
            self._modes.add(r.mode)
        self._model = r.model
        self._payload_sum += r.payload_bytes
        self._all_measured = self._all_measured and bool(r.energy_measured)
        self._energy_method = r.energy_method
        if not math.isnan(r.energy_j):
            self._energy_n += 1
            self._energy_sum += r.energy_j
            self._energy_compute_sum += r.energy_compute_j
            self._energy_busy_ms += e2e_ms

    def summary(self, *, frames_lost: int = 0) -> Summary:
        """The :class:`Summary` of the records added; ``frames_lost`` is the caller's
        count (it comes from sequence numbers, see :class:`SeqTracker`)."""
        s = Summary(frames_delivered=self._n, frames_lost=frames_lost)
        if not self._n:
            return s
        s.duration_s = (self._last_arrival_ns - self._first_stamp_ns) / 1e9
        span_s = (self._last_arrival_ns - self._first_arrival_ns) / 1e9
        s.fps = (self._n - 1) / span_s if span_s > 0 else float('nan')
        s.modes = sorted(self._modes)
        s.model = self._model
        s.top_labels = self._labels.most_common(5)
        held = self._sample[:self.held]
        s.latency_ms = {st: percentiles(held[:, i]) for i, st in enumerate(STAGES)}
        s.bytes_per_frame = self._payload_sum / self._n
        if self._energy_n:
            s.energy_j_per_frame = self._energy_sum / self._energy_n
            s.energy_compute_j_per_frame = self._energy_compute_sum / self._energy_n
            busy_s = self._energy_busy_ms / 1e3
            s.mean_power_w = self._energy_sum / busy_s if busy_s > 0 else float('nan')
            s.energy_measured = self._all_measured
            s.energy_method = self._energy_method
        return s


def summarize(records: Sequence[FrameRecord], *, frames_sent: int | None = None) -> Summary:
    """Summarize delivered frames (all held, so percentiles are exact); frames
    lost as :func:`frames_lost` counts them."""
    acc = RunningSummary(reservoir_size=max(1, len(records)))
    for r in records:
        acc.add(r)
    if not records:
        return acc.summary(frames_lost=frames_sent or 0)
    return acc.summary(frames_lost=frames_lost(len({r.seq for r in records}),
                                               max(r.seq for r in records), frames_sent))


def format_summary_table(s: Summary) -> str:
    """A plain-text table of a :class:`Summary`, for logs and terminals."""
    lines = [
        f'model: {s.model}   mode: {"/".join(s.modes) or "-"}',
        f'frames delivered: {s.frames_delivered}   lost: {s.frames_lost}   '
        f'rate: {s.fps:.1f} fps',
        *(['lost by reason: ' + ', '.join(f'{k} {v}' for k, v in s.lost_by_reason.items())
           + f', uncounted {s.lost_uncounted}'] if s.lost_by_reason else []),
        'top-1 labels: ' + (', '.join(f'{label} x{n}' for label, n in s.top_labels) or '-'),
        '',
        f'{"stage":<14}{"p50 ms":>10}{"p95 ms":>10}',
    ]
    for stage in STAGES:
        p = s.latency_ms.get(stage, {})
        lines.append(f'{stage[:-3]:<14}{p.get("p50", float("nan")):>10.2f}'
                     f'{p.get("p95", float("nan")):>10.2f}')
    label = 'measured' if s.energy_measured else 'ESTIMATED'
    lines += ['',
              f'bytes per frame: {s.bytes_per_frame:,.0f}',
              f'energy per frame: {s.energy_j_per_frame:.4f} J, of which robot compute '
              f'{s.energy_compute_j_per_frame:.4f} J; mean {s.mean_power_w:.2f} W '
              f'({label}: {s.energy_method or "-"})']
    if any(s.camera_account.values()):   # a camera without a deadline counts nothing here
        lines.append(describe_account(s.camera_account))
    return '\n'.join(lines)


def read_summary(path: str | Path) -> Summary:
    """Load a summary the monitor wrote."""
    return Summary.from_json(Path(path).read_text())
