"""Per-frame records and their summary: pure functions from timestamps to
metrics (units in names), shared by the monitor node, the demo and benchmarks.

End-to-end latency is measured on the robot's clock: from the frame's capture
stamp to the result's arrival at the monitor, which runs beside the camera.
``transport_ms`` is what remains after the compute stages: network, DDS and
queueing, both ways. It needs no clock synchronisation between robot and edge.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

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


def summarize(records: Sequence[FrameRecord], *, frames_sent: int | None = None) -> Summary:
    """Summarize delivered frames; frames lost as :func:`frames_lost` counts them."""
    s = Summary()
    s.frames_delivered = len(records)
    if not records:
        s.frames_lost = frames_sent or 0
        return s
    s.frames_lost = frames_lost(len({r.seq for r in records}), max(r.seq for r in records),
                                frames_sent)
    arrivals = [r.arrival_ns for r in records]
    s.duration_s = (max(arrivals) - min(r.stamp_ns for r in records)) / 1e9
    span_s = (max(arrivals) - min(arrivals)) / 1e9
    s.fps = (len(records) - 1) / span_s if span_s > 0 else float('nan')
    s.modes = sorted({r.mode for r in records})
    s.model = records[-1].model
    s.top_labels = Counter(r.top1_label for r in records).most_common(5)
    s.latency_ms = {st: percentiles([getattr(r, st) for r in records]) for st in STAGES}
    s.bytes_per_frame = float(np.mean([r.payload_bytes for r in records]))
    with_energy = [r for r in records if not np.isnan(r.energy_j)]
    if with_energy:
        s.energy_j_per_frame = float(np.mean([r.energy_j for r in with_energy]))
        s.energy_compute_j_per_frame = float(np.mean([r.energy_compute_j for r in with_energy]))
        busy_s = sum(r.e2e_ms for r in with_energy) / 1e3
        s.mean_power_w = sum(r.energy_j for r in with_energy) / busy_s if busy_s > 0 else float('nan')
        s.energy_measured = all(r.energy_measured for r in records)
        s.energy_method = records[-1].energy_method
    return s


def format_summary_table(s: Summary) -> str:
    """A plain-text table of a :class:`Summary`, for logs and terminals."""
    lines = [
        f'model: {s.model}   mode: {"/".join(s.modes) or "-"}',
        f'frames delivered: {s.frames_delivered}   lost: {s.frames_lost}   '
        f'rate: {s.fps:.1f} fps',
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
    return '\n'.join(lines)


def read_summary(path: str | Path) -> Summary:
    """Load a summary the monitor wrote."""
    return Summary.from_json(Path(path).read_text())
