"""Per-frame logs the monitor writes, and their reader (ROS-free).

Two formats, chosen by the file's suffix (:func:`open_frame_log`):

* ``.csv``: one row per frame, columns :data:`~bottlefit_ros.metrics.CSV_COLUMNS`
  (spreadsheets, pandas).
* ``.mcap``: one ``bottlefit_ros/msg/FrameMetrics`` message per frame, CDR-encoded
  with a ``ros2msg`` schema under the ``ros2`` profile, so ``ros2 bag`` (rosbag2's
  MCAP storage) and Foxglove open it as a recorded topic.

A log is opened once, at start-up; :meth:`FrameLog.write` then costs one row or
one encoded message. :func:`read_frame_log` loads either format back into
:class:`~bottlefit_ros.metrics.FrameRecord` objects, so tools can reload a
field-trial log (``python -m bottlefit_ros.report``).
"""
from __future__ import annotations

import csv
import os
import re
from abc import ABC, abstractmethod
from dataclasses import MISSING, fields
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Callable

from bottlefit_ros.metrics import CSV_COLUMNS, FrameRecord

__all__ = ['FRAME_METRICS_TYPE', 'SUFFIXES', 'CsvFrameLog', 'FrameLog', 'McapFrameLog',
           'frame_metrics_schema', 'msg_dir', 'open_frame_log', 'read_frame_log']

PACKAGE = 'bottlefit_ros'
FRAME_METRICS_TYPE = f'{PACKAGE}/msg/FrameMetrics'
SUFFIXES: tuple[str, ...] = ('.csv', '.mcap')

# The ROS 2 standard definitions of the two dependencies that do not live in this
# package (std_msgs/msg/Header.msg and builtin_interfaces/msg/Time.msg, comments trimmed).
_STANDARD_MSGS: dict[str, str] = {
    'std_msgs/Header': (
        '# Standard metadata for higher-level stamped data types.\n'
        '# Two-integer timestamp that is expressed as seconds and nanoseconds.\n'
        'builtin_interfaces/Time stamp\n'
        '# Transform frame with which this data is associated.\n'
        'string frame_id\n'),
    'builtin_interfaces/Time': (
        '# The seconds component, valid over all int32 values.\n'
        'int32 sec\n'
        '# The nanoseconds component, valid in the range [0, 1e9).\n'
        'uint32 nanosec\n'),
}
_SEPARATOR = '=' * 80
_PRIMITIVES = frozenset({'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16',
                         'uint16', 'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring'})


# --- message definitions ------------------------------------------------------------------

def msg_dir() -> Path:
    """Directory of this package's ``.msg`` files: ``share/bottlefit_ros/msg`` of the
    installed package when ament_index finds it, else ``msg/`` of the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory
        share = Path(get_package_share_directory(PACKAGE)) / 'msg'
        if share.is_dir():
            return share
    except (ImportError, LookupError, OSError, ValueError):
        pass   # ROS absent, or the package not installed in the sourced workspaces
    source = Path(__file__).resolve().parent.parent / 'msg'
    if source.is_dir():
        return source
    raise FileNotFoundError(f'no msg directory: {PACKAGE} is not installed in a sourced '
                            f'workspace and {source} does not exist')


def _msg_text(name: str, directory: Path) -> str:
    """Definition text of ``pkg/Name`` (this package's from ``directory``)."""
    if name in _STANDARD_MSGS:
        return _STANDARD_MSGS[name]
    pkg, _, typ = name.partition('/')
    if pkg != PACKAGE:
        raise ValueError(f'no definition available for message type {name!r}')
    return (directory / f'{typ}.msg').read_text(encoding='utf-8')


def _dependencies(text: str, pkg: str) -> list[str]:
    """Non-primitive field types of a .msg text, as ``pkg/Name``, in order of appearance."""
    deps: list[str] = []
    for line in text.splitlines():
        words = line.split('#', 1)[0].split()
        if len(words) < 2:
            continue
        typ = re.sub(r'\[.*\]$', '', words[0]).split('<=', 1)[0]
        if typ in _PRIMITIVES:
            continue
        parts = typ.split('/')
        name = f'{parts[0]}/{parts[-1]}' if len(parts) > 1 else f'{pkg}/{typ}'
        if name not in deps:
            deps.append(name)
    return deps


def frame_metrics_schema(directory: Path | None = None) -> str:
    """The ``ros2msg`` schema text of FrameMetrics: its .msg text followed by each
    dependency (depth-first, once) as ``====...`` / ``MSG: pkg/Name`` / text, the
    layout rosbag2 writes. ``directory`` defaults to :func:`msg_dir`."""
    directory = msg_dir() if directory is None else directory
    seen: set[str] = set()

    def expand(name: str) -> str:
        text = _msg_text(name, directory)
        out = text
        for dep in _dependencies(text, name.split('/')[0]):
            if dep not in seen:
                seen.add(dep)
                out += f'\n{_SEPARATOR}\nMSG: {dep}\n' + expand(dep)
        return out

    return expand(f'{PACKAGE}/FrameMetrics')


# --- record <-> FrameMetrics (as the dicts mcap_ros2 encodes and the objects it decodes) ---

def _time(ns: int) -> dict[str, int]:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return {'sec': sec, 'nanosec': nanosec}


def frame_metrics_fields(r: FrameRecord) -> dict[str, Any]:
    """A record as the nested fields of a ``FrameMetrics`` message (the one mapping,
    used for the MCAP log and, through ``conversions``, for the published message)."""
    return {
        'header': {'stamp': _time(r.stamp_ns), 'frame_id': ''},
        'seq': r.seq, 'mode': r.mode, 'model': r.model,
        'arrival': _time(r.arrival_ns), 'e2e_ms': r.e2e_ms, 'transport_ms': r.transport_ms,
        'timings': {'preprocess_ms': r.preprocess_ms, 'head_ms': r.head_ms,
                    'encode_ms': r.encode_ms, 'decode_ms': r.decode_ms, 'tail_ms': r.tail_ms},
        'payload_bytes': r.payload_bytes, 'top1_id': r.top1_id, 'top1_label': r.top1_label,
        'top1_score': r.top1_score, 'energy_j': r.energy_j,
        'energy_measured': r.energy_measured, 'energy_method': r.energy_method,
        'energy_compute_j': r.energy_compute_j,
    }


def _from_msg(m: Any) -> FrameRecord:
    t = m.timings
    return FrameRecord(
        seq=int(m.seq), mode=m.mode, model=m.model,
        stamp_ns=m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec,
        arrival_ns=m.arrival.sec * 1_000_000_000 + m.arrival.nanosec,
        preprocess_ms=float(t.preprocess_ms), head_ms=float(t.head_ms),
        encode_ms=float(t.encode_ms), decode_ms=float(t.decode_ms), tail_ms=float(t.tail_ms),
        payload_bytes=int(m.payload_bytes), top1_id=int(m.top1_id), top1_label=m.top1_label,
        top1_score=float(m.top1_score), energy_j=float(m.energy_j),
        energy_measured=bool(m.energy_measured), energy_method=m.energy_method,
        energy_compute_j=float(m.energy_compute_j))


# --- writers ---------------------------------------------------------------------------------

class FrameLog(ABC):
    """A per-frame log, opened (and its file created) by the constructor."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, record: FrameRecord) -> None:
        """Append one frame."""
        if self._closed:
            raise ValueError(f'frame log {self.path} is closed')
        self._write(record)

    def flush(self) -> None:
        """Push what was written so far to the file (no fsync)."""
        if not self._closed:
            self._flush()

    def close(self) -> None:
        """Finish the file. Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> 'FrameLog':
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @abstractmethod
    def _write(self, record: FrameRecord) -> None: ...

    @abstractmethod
    def _flush(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...


class CsvFrameLog(FrameLog):
    """CSV log: a header of :data:`CSV_COLUMNS`, then one row per frame."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._file: IO[str] = self.path.open('w', newline='', encoding='utf-8')
        self._csv = csv.DictWriter(self._file, fieldnames=CSV_COLUMNS)
        self._csv.writeheader()

    def _write(self, record: FrameRecord) -> None:
        self._csv.writerow(record.row())

    def _flush(self) -> None:
        self._file.flush()

    def _close(self) -> None:
        self._file.close()


class McapFrameLog(FrameLog):
    """MCAP log: FrameMetrics messages on ``topic`` (log and publish time = arrival),
    readable by ``ros2 bag`` and Foxglove. The schema is registered once, here."""

    def __init__(self, path: str | os.PathLike[str], topic: str = '/frame_metrics', *,
                 chunk_size: int = 1024 * 1024) -> None:
        from mcap_ros2.writer import Writer   # the registry library: mcap + mcap-ros2-support

        schema_text = frame_metrics_schema()
        super().__init__(path)
        self.topic = topic
        self._file = self.path.open('wb')
        try:
            self._mcap = Writer(self._file, chunk_size=chunk_size)   # profile "ros2"
            self._schema = self._mcap.register_msgdef(FRAME_METRICS_TYPE, schema_text)
        except BaseException:
            self._file.close()
            raise

    def _write(self, record: FrameRecord) -> None:
        self._mcap.write_message(self.topic, self._schema, frame_metrics_fields(record),
                                 log_time=record.arrival_ns, publish_time=record.arrival_ns,
                                 sequence=record.seq & 0xFFFFFFFF)

    def _flush(self) -> None:
        # mcap_ros2's Writer does not expose flush(); mcap's Writer (inside it) ends the
        # chunk in progress, so what was written survives a crash of the monitor.
        inner = getattr(self._mcap, '_writer', None)
        if inner is not None and hasattr(inner, 'flush'):
            inner.flush()
        else:
            self._file.flush()

    def _close(self) -> None:
        try:
            self._mcap.finish()
        finally:
            self._file.close()


_WRITERS: dict[str, Callable[[Path], FrameLog]] = {'.csv': CsvFrameLog, '.mcap': McapFrameLog}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f'unknown frame log format {path.suffix or "(no suffix)"!r} of '
                         f'{path}: supported are {", ".join(SUFFIXES)}')
    return suffix


def open_frame_log(path: str | os.PathLike[str]) -> FrameLog:
    """Open a new log, CSV or MCAP by the suffix of ``path`` (``.csv``, ``.mcap``)."""
    p = Path(path)
    return _WRITERS[_suffix(p)](p)


# --- reader ----------------------------------------------------------------------------------

def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ('true', '1', 'yes'):
        return True
    if low in ('false', '0', 'no', ''):
        return False
    raise ValueError(f'not a boolean: {text!r}')


_PARSERS: dict[str, Callable[[str], Any]] = {'int': int, 'float': float, 'str': str,
                                             'bool': _parse_bool}


def _read_csv(path: Path) -> list[FrameRecord]:
    spec = [(f.name, _PARSERS[getattr(f.type, '__name__', str(f.type))], f.default is MISSING)
            for f in fields(FrameRecord)]
    with path.open(newline='', encoding='utf-8') as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            return []   # empty file
        missing = [n for n, _, required in spec if required and n not in reader.fieldnames]
        if missing:
            raise ValueError(f'{path}: not a frame log: columns missing: {", ".join(missing)}')
        records = []
        for row in reader:
            try:
                kw = {n: parse(row[n]) for n, parse, _ in spec if row.get(n) is not None}
            except ValueError as e:
                raise ValueError(f'{path}:{reader.line_num}: {e}') from None
            records.append(FrameRecord(**kw))
    return records


def _read_mcap(path: Path) -> list[FrameRecord]:
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    factory = DecoderFactory()
    records = []
    try:
        with path.open('rb') as fh:
            for schema, channel, message in make_reader(fh).iter_messages():
                if schema is None or schema.name != FRAME_METRICS_TYPE:
                    continue   # other topics of a bag recorded with ros2 bag
                decode = factory.decoder_for(channel.message_encoding, schema)
                if decode is None:
                    raise ValueError(f'{path}: {channel.topic} is {channel.message_encoding!r}'
                                     f' with a {schema.encoding!r} schema, not cdr/ros2msg')
                records.append(_from_msg(decode(message.data)))
    except McapError as e:
        raise ValueError(f'{path}: not a readable MCAP file: {e}') from None
    return records


def read_frame_log(path: str | os.PathLike[str]) -> list[FrameRecord]:
    """Load a log written by :func:`open_frame_log` (or a ``ros2 bag`` MCAP recording of
    FrameMetrics messages). Raises ``OSError`` if it cannot be opened and ``ValueError``
    if it is not a frame log."""
    p = Path(path).expanduser()
    return _read_csv(p) if _suffix(p) == '.csv' else _read_mcap(p)
