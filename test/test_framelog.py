"""Per-frame logs: CSV and MCAP round trips, the MCAP file as ROS 2 tools see it."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader

from bottlefit_ros.framelog import (FRAME_METRICS_TYPE, CsvFrameLog, McapFrameLog,
                                    frame_metrics_schema, msg_dir, open_frame_log,
                                    read_frame_log)
from bottlefit_ros.metrics import CSV_COLUMNS, FrameRecord

FLOAT32_FIELDS = ('preprocess_ms', 'head_ms', 'encode_ms', 'decode_ms', 'tail_ms', 'top1_score')
EXACT_FIELDS = ('seq', 'mode', 'model', 'stamp_ns', 'arrival_ns', 'payload_bytes', 'top1_id',
                'top1_label', 'energy_measured', 'energy_method')


def records() -> list[FrameRecord]:
    base = 1_718_000_000_123_456_789
    out = []
    for i, (mode, energy, measured, method) in enumerate([
            ('split', 0.0421, False, 'estimate:jetson_nano'),
            ('split', float('nan'), False, ''),
            ('local', 0.1337, True, 'jetson_ina3221 @ 100 Hz'),
            ('offload', 1e-7, True, 'rapl'),
            ('split', float('nan'), True, 'jetson_ina3221 @ 100 Hz')]):
        stamp = base + i * 33_333_333
        out.append(FrameRecord(
            seq=i * 2 + 7, mode=mode, model='resnet50_bottlefit', stamp_ns=stamp,
            arrival_ns=stamp + 9_876_543 + i * 1_000_001, preprocess_ms=1.234567 + i,
            head_ms=12.3456789, encode_ms=0.1, decode_ms=0.3333333, tail_ms=7.77,
            payload_bytes=[12_345, 0, 0, 98_765, 4_000_000_000][i], top1_id=281 + i,
            top1_label='tabby, tabby cat' if i % 2 else 'espresso "ristretto"',
            top1_score=0.912345678, energy_j=energy, energy_measured=measured,
            energy_method=method))
    return out


def assert_same(got: list[FrameRecord], want: list[FrameRecord], *, float32: bool) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for name in EXACT_FIELDS:
            assert getattr(g, name) == getattr(w, name), name
        for name in FLOAT32_FIELDS:
            expected = np.float32(getattr(w, name)) if float32 else getattr(w, name)
            assert getattr(g, name) == float(expected), name
        if math.isnan(w.energy_j):
            assert math.isnan(g.energy_j)
        else:
            assert g.energy_j == w.energy_j        # float64 in both formats


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / 'sub' / 'frames.csv'
    want = records()
    with open_frame_log(path) as log:
        assert isinstance(log, CsvFrameLog)
        for r in want:
            log.write(r)
        log.flush()
    with path.open(newline='') as fh:
        assert tuple(csv.DictReader(fh).fieldnames or ()) == CSV_COLUMNS
    assert_same(read_frame_log(path), want, float32=False)


def test_mcap_round_trip(tmp_path: Path) -> None:
    path = tmp_path / 'frames.mcap'
    want = records()
    with open_frame_log(path) as log:
        assert isinstance(log, McapFrameLog)
        for r in want:
            log.write(r)
        log.flush()                                 # mid-run flush keeps the file valid
    assert_same(read_frame_log(path), want, float32=True)


def test_mcap_file_is_a_ros2_recording(tmp_path: Path) -> None:
    path = tmp_path / 'frames.mcap'
    want = records()
    with McapFrameLog(path, topic='/robot1/frame_metrics') as log:
        for r in want:
            log.write(r)
    with path.open('rb') as fh:
        reader = make_reader(fh)
        assert reader.get_header().profile == 'ros2'
        summary = reader.get_summary()
        assert summary is not None and summary.statistics is not None
        assert summary.statistics.message_count == len(want)
        (schema,) = summary.schemas.values()
        assert schema.name == FRAME_METRICS_TYPE == 'bottlefit_ros/msg/FrameMetrics'
        assert schema.encoding == 'ros2msg'
        text = schema.data.decode()
        assert text.startswith((msg_dir() / 'FrameMetrics.msg').read_text())
        for dep in ('std_msgs/Header', 'builtin_interfaces/Time', 'bottlefit_ros/StageTimings'):
            assert f'\n{"=" * 80}\nMSG: {dep}\n' in text
        (channel,) = summary.channels.values()
        assert channel.topic == '/robot1/frame_metrics' and channel.message_encoding == 'cdr'
        times = [(m.log_time, m.publish_time) for _, _, m in reader.iter_messages()]
    assert times == [(r.arrival_ns, r.arrival_ns) for r in want]


def test_schema_lists_each_dependency_once_in_rosbag2_order() -> None:
    text = frame_metrics_schema()
    names = [line[5:] for line in text.splitlines() if line.startswith('MSG: ')]
    assert names == ['std_msgs/Header', 'builtin_interfaces/Time', 'bottlefit_ros/StageTimings']


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    for name in ('frames.txt', 'frames'):
        with pytest.raises(ValueError, match=r'supported are \.csv, \.mcap'):
            open_frame_log(tmp_path / name)
        with pytest.raises(ValueError, match='supported are'):
            read_frame_log(tmp_path / name)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize('suffix', ['.csv', '.mcap'])
def test_write_after_close_raises(tmp_path: Path, suffix: str) -> None:
    log = open_frame_log(tmp_path / f'frames{suffix}')
    log.write(records()[0])
    log.close()
    log.close()                                     # harmless
    assert log.closed
    with pytest.raises(ValueError, match='closed'):
        log.write(records()[1])
    assert len(read_frame_log(log.path)) == 1


def test_unreadable_logs_say_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / 'bad.mcap'
    bad.write_bytes(b'not an mcap file at all')
    with pytest.raises(ValueError, match='not a readable MCAP'):
        read_frame_log(bad)
    other = tmp_path / 'other.csv'
    other.write_text('a,b\n1,2\n')
    with pytest.raises(ValueError, match='columns missing: seq'):
        read_frame_log(other)
    with pytest.raises(FileNotFoundError):
        read_frame_log(tmp_path / 'absent.csv')
