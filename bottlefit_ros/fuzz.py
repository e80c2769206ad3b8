"""A hostile peer for each node's input topic: malformed messages while valid ones flow.

Three targets, each a separate process (``python -m bottlefit_ros.fuzz``):

- ``edge``, both its inputs: malformed ``Bottleneck`` frames on ``bottleneck``,
  mutated from a real frame captured from the running camera (wrong model, split,
  fingerprint, codec (``jpeg`` included, which is no longer a Bottleneck codec),
  dtype, shape, sizes, scale, zero point, truncated or random payloads, a zstd
  bomb, control characters and long strings), plus random field fuzz; and, one
  message in three, a malformed ``sensor_msgs/CompressedImage`` on
  ``image_raw/compressed`` (:data:`COMPRESSED_CASES`: corrupt and truncated
  JPEGs, a header claiming 2360x2360 or 65000x65000 over a 320x240 body, empty
  and random data, PNG and unknown format strings, long strings and control
  characters in format and frame_id), every one of which must be rejected;
- ``camera``: ``sensor_msgs/Image`` on ``image_raw`` (SensorDataQoS, as a driver
  publishes): valid rgb8 frames at ``--valid-hz`` (what must be answered), the
  other encodings a driver may send (which the camera converts), and malformed
  images (unknown encodings, sizes that do not fit the data, headers claiming
  huge images over small data);
- ``monitor``: ``Classification`` results on ``classification`` mutated from a
  real one (stamps ahead of the clock or invalid, negative or NaN timings,
  out-of-range seq, payload_bytes and scores, duplicates, mismatched arrays,
  control characters).

It prints one JSON line with what it sent, per class and in total
(``valid``/``unusual``/``malformed``), for a test or benchmark to check every
node's counters against. Sending is bounded in count and time, on this host's
DDS (the caller sets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``).

:func:`campaign` (``python -m bottlefit_ros.fuzz --campaign``) does the whole
exercise: the three nodes as processes (camera fed by the camera fuzzer), the
three fuzzers at once, the nodes' ``/diagnostics`` counters and memory before and
after; the fuzz test and the recorded long run both use it.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ['BOTTLENECK_CASES', 'CLASSIFICATION_CASES', 'COMPRESSED_CASES', 'IMAGE_CASES',
           'main']

Case = Callable[[object, random.Random], object]


# -- Bottleneck (the edge's input) ---------------------------------------------
@functools.lru_cache(maxsize=4)
def _jpeg(width: int = 320, height: int = 240) -> bytes:
    import cv2

    img = np.zeros((height, width, 3), np.uint8)
    img[:, :, 1] = np.arange(width, dtype=np.uint8)[None, :]
    ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A 320x240 JPEG whose SOF header says ``width`` x ``height``."""
    data = bytearray(_jpeg())
    sof = data.find(b'\xff\xc0')
    data[sof + 5:sof + 7] = height.to_bytes(2, 'big')
    data[sof + 7:sof + 9] = width.to_bytes(2, 'big')
    return bytes(data)


@functools.lru_cache(maxsize=1)
def _bomb() -> bytes:
    """A zstd frame of a few hundred bytes that expands to 64 MiB."""
    import zstandard

    return zstandard.ZstdCompressor(level=19).compress(bytes(64 * 2**20))


def _zstd_bomb(m):
    m.payload = _bomb()
    return m


def _set(**fields) -> Case:
    def case(m, rng):
        for k, v in fields.items():
            setattr(m, k, v)
        return m
    return case


BOTTLENECK_CASES: dict[str, Case] = {
    'wrong_model': _set(model='not_a_model'),
    'wrong_split': _set(split='blocks.3'),
    'wrong_fingerprint': _set(head_fingerprint='0123456789abcdef'),
    'unknown_codec': _set(codec='lz4'),
    'wrong_dtype': _set(dtype='float64'),
    'shape_mismatch': lambda m, r: _set(shape=[1, int(m.shape[1]) + 1, *m.shape[2:]])(m, r),
    'eight_dims': _set(shape=[1] * 8),
    'zero_dim': lambda m, r: _set(shape=[1, 0, *m.shape[2:]])(m, r),
    'raw_size_lie': _set(raw_size=2**32 - 1),
    'truncated_payload': lambda m, r: _set(payload=bytes(m.payload)[:len(m.payload) // 2])(m, r),
    'empty_payload': _set(payload=b''),
    'random_payload': lambda m, r: _set(payload=r.randbytes(max(1, len(m.payload))))(m, r),
    'zstd_bomb': lambda m, r: _zstd_bomb(m),
    'nan_scale': _set(scale=math.nan),
    'inf_scale': _set(scale=math.inf),
    'huge_scale': _set(scale=3.4e38),
    'negative_scale': _set(scale=-1.0),
    'zero_point_out_of_range': _set(zero_point=300),
    'newline_frame_id': lambda m, r: _set(
        model=m.model + '\n[FATAL] forged line')(m, r),
    'long_frame_id': _set(model='x' * 2**20),
    'jpeg_codec': lambda m, r: _set(codec='jpeg', dtype='uint8', shape=[240, 320, 3],
                                    raw_size=240 * 320 * 3, payload=_jpeg())(m, r),
}


# -- CompressedImage (the edge's offload input) --------------------------------
def _compressed(data: bytes, fmt: str = 'rgb8; jpeg compressed bgr8', frame_id: str = 'cam'):
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage()
    msg.format, msg.data = fmt, data
    msg.header.frame_id = frame_id
    return msg


def _random_string(rng: random.Random) -> str:
    return _extreme('string', rng)          # its alphabet cannot spell "jpeg"


# Every case is malformed: the edge must reject each one (none is left valid).
COMPRESSED_CASES: dict[str, Callable[[random.Random], object]] = {
    'corrupt_jpeg': lambda r: _compressed(_jpeg()[:600]),
    'truncated_jpeg': lambda r: _compressed(_jpeg()[:len(_jpeg()) // 2] + b'\xff\xd9'),
    'header_claims_2360x2360': lambda r: _compressed(_jpeg_claiming(2360, 2360)),
    'header_claims_65000x65000': lambda r: _compressed(_jpeg_claiming(65000, 65000)),
    'empty_data': lambda r: _compressed(b''),
    'random_data': lambda r: _compressed(r.randbytes(r.choice((1, 13, 5000)))),
    'png_format': lambda r: _compressed(_jpeg(), 'rgb8; png compressed bgr8'),
    'unknown_format': lambda r: _compressed(_jpeg(), 'h264'),
    'empty_format': lambda r: _compressed(_jpeg(), ''),
    'newline_format': lambda r: _compressed(_jpeg(), 'jpeg\n[FATAL] forged line'),
    'long_format': lambda r: _compressed(_jpeg(), 'jpeg' + ' ' * 2**20),
    'newline_long_frame_id': lambda r: _compressed(
        _jpeg(), frame_id='cam\n[FATAL] forged line' + 'x' * 300),
    'long_frame_id': lambda r: _compressed(_jpeg(), frame_id='f' * 2**20),
    'random_format': lambda r: _compressed(_jpeg(), _random_string(r)),
    'random_data_jpeg_format': lambda r: _compressed(r.randbytes(r.choice((0, 1, 70_000))),
                                                     'jpeg'),
}


# -- Image (the camera's input) --------------------------------------------------
def _image(encoding: str, height: int, width: int, step: int, data: bytes,
           bigendian: int = 0):
    from sensor_msgs.msg import Image

    msg = Image()
    msg.encoding, msg.height, msg.width, msg.step = encoding, height, width, step
    msg.is_bigendian = bigendian
    msg.data = data
    return msg


def _rgb(rng: random.Random, h: int = 240, w: int = 320) -> np.ndarray:
    gen = np.random.default_rng(rng.randrange(2**32))
    img = np.empty((h, w, 3), np.uint8)
    img[:] = gen.integers(0, 256, 3, dtype=np.uint8)          # a flat colour ...
    img[h // 4:3 * h // 4, w // 4:3 * w // 4] = gen.integers(0, 256, 3, dtype=np.uint8)
    return img                                                # ... with a square on it


def _valid_image(rng: random.Random):
    img = _rgb(rng)
    return _image('rgb8', 240, 320, 320 * 3, img.tobytes())


def _grey16(rng, big: bool):
    arr = (_rgb(rng)[:, :, 0].astype('>u2' if big else '<u2') * 257)
    return arr.tobytes()


UNUSUAL_IMAGES: dict[str, Callable[[random.Random], object]] = {
    'bgr8': lambda r: _image('bgr8', 240, 320, 960, _rgb(r).tobytes()),
    'rgba8': lambda r: _image('rgba8', 240, 320, 1280,
                              np.dstack([_rgb(r), np.full((240, 320), 255, np.uint8)]).tobytes()),
    'mono8': lambda r: _image('mono8', 240, 320, 320, _rgb(r)[:, :, 0].tobytes()),
    'mono16': lambda r: _image('mono16', 240, 320, 640, _grey16(r, False)),
    'mono16_bigendian': lambda r: _image('mono16', 240, 320, 640, _grey16(r, True), 1),
    '16UC1': lambda r: _image('16UC1', 240, 320, 640, _grey16(r, False)),
    '32FC1': lambda r: _image('32FC1', 240, 320, 1280,
                              (_rgb(r)[:, :, 0] / 255.0).astype('<f4').tobytes()),
    '8UC3': lambda r: _image('8UC3', 240, 320, 960, _rgb(r).tobytes()),
    'yuv422': lambda r: _image('yuv422', 240, 320, 640, bytes(r.randbytes(240 * 640))),
    'yuv422_yuy2': lambda r: _image('yuv422_yuy2', 240, 320, 640, bytes(r.randbytes(240 * 640))),
    'rgb8_padded_rows': lambda r: _image(
        'rgb8', 240, 320, 1024, np.pad(_rgb(r).reshape(240, 960), ((0, 0), (0, 64))).tobytes()),
}

IMAGE_CASES: dict[str, Callable[[random.Random], object]] = {
    'unknown_encoding': lambda r: _image('hsv9', 240, 320, 960, bytes(240 * 960)),
    'empty_encoding': lambda r: _image('', 240, 320, 960, bytes(240 * 960)),
    'data_too_short': lambda r: _image('rgb8', 240, 320, 960, bytes(1000)),
    'step_too_small': lambda r: _image('rgb8', 240, 320, 100, bytes(240 * 960)),
    'zero_size': lambda r: _image('rgb8', 0, 0, 0, b''),
    'huge_header_small_data': lambda r: _image('rgb8', 20000, 20000, 60000, bytes(4096)),
    'odd_width_yuv422': lambda r: _image('yuv422', 2, 3, 6, bytes(12)),
    'newline_encoding': lambda r: _image('rgb8\n[FATAL] forged', 2, 2, 6, bytes(12)),
}


# -- Classification (the monitor's input) --------------------------------------
def _stamp_ahead(seconds: float) -> Case:
    def case(m, rng):
        ns = time.time_ns() + int(seconds * 1e9)
        m.header.stamp.sec, m.header.stamp.nanosec = ns // 10**9, ns % 10**9
        return m
    return case


def _timings(value: float) -> Case:
    def case(m, rng):
        m.timings.head_ms = value
        m.timings.tail_ms = value
        return m
    return case


CLASSIFICATION_CASES: dict[str, Case] = {
    'stamp_1s_ahead': _stamp_ahead(1.0),
    'stamp_1h_ahead': _stamp_ahead(3600.0),
    'stamp_invalid_nanosec': lambda m, r: (setattr(m.header.stamp, 'nanosec', 2 * 10**9 - 1),
                                           m)[1],
    'stamp_zero': lambda m, r: (setattr(m.header, 'stamp', type(m.header.stamp)()), m)[1],
    'negative_timings': _timings(-5.0),
    'nan_timings': _timings(math.nan),
    'inf_timings': _timings(math.inf),
    'max_seq': _set(seq=2**64 - 1),
    'max_payload_bytes': _set(payload_bytes=2**32 - 1),
    'no_classes': _set(class_ids=[], labels=[], scores=[]),
    'mismatched_arrays': lambda m, r: _set(labels=list(m.labels)[:1])(m, r),
    'nan_score': lambda m, r: _set(scores=[math.nan] * len(m.scores))(m, r),
    'score_above_one': lambda m, r: _set(scores=[2.0] * len(m.scores))(m, r),
    'newline_label': lambda m, r: _set(labels=['cat\n[FATAL] forged label']
                                       + list(m.labels)[1:])(m, r),
    'long_label': lambda m, r: _set(labels=['x' * 2**20] + list(m.labels)[1:])(m, r),
    'unknown_mode': _set(mode='teleport'),
}


_INT_LIMITS = {'uint8': (0, 2**8 - 1), 'uint32': (0, 2**32 - 1), 'uint64': (0, 2**64 - 1),
               'int32': (-2**31, 2**31 - 1), 'int64': (-2**63, 2**63 - 1)}
_FLOATS = (math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-45, 3.4e38)


def _extreme(kind: str, rng: random.Random):
    """An extreme value of ROS field type ``kind`` (None: not a type handled here)."""
    if kind in _INT_LIMITS:
        lo, hi = _INT_LIMITS[kind]
        return rng.choice((lo, hi, 0, 1, rng.randint(lo, hi)))
    if kind in ('float', 'double'):
        return rng.choice(_FLOATS)
    if kind == 'string':
        alphabet = 'abc\n\r\t\x1b[0m\x00\u00e9\u202e'
        return ''.join(rng.choice(alphabet) for _ in range(rng.choice((0, 1, 40, 5000))))
    if kind == 'sequence<uint8>':
        return rng.randbytes(rng.choice((0, 1, 13, 70_000)))
    if kind.startswith('sequence<') and kind.endswith('>'):
        inner, _, bound = kind[len('sequence<'):-1].partition(',')
        n = rng.randint(0, int(bound) if bound else 12)
        values = [_extreme(inner.strip(), rng) for _ in range(n)]
        return None if None in values else values
    return None


def _random_field_fuzz(m, rng: random.Random):
    """Overwrite one field of ``m`` (nested messages included) with an extreme value."""
    target, fields = m, dict(m.get_fields_and_field_types())
    name = rng.choice(sorted(fields))
    while '/' in fields[name]:                      # a nested message: go inside
        target = getattr(target, name)
        fields = dict(target.get_fields_and_field_types())
        name = rng.choice(sorted(fields))
    value = _extreme(fields[name], rng)
    if value is not None:
        setattr(target, name, value)
    return m


def _mutate(template, cases: dict[str, Case], rng: random.Random) -> tuple[str, object]:
    """A named case, or (one time in four) random field fuzz."""
    if rng.random() < 0.25:
        return 'random_field', _random_field_fuzz(copy.deepcopy(template), rng)
    name = rng.choice(sorted(cases))
    return name, cases[name](copy.deepcopy(template), rng)


# -- the process ---------------------------------------------------------------
def _capture(node, msg_type, topic: str, qos, timeout_s: float):
    import rclpy

    got: list = []
    sub = node.create_subscription(msg_type, topic, got.append, qos)
    deadline = time.monotonic() + timeout_s
    while not got and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_subscription(sub)
    if not got:
        raise TimeoutError(f'no message on {topic} within {timeout_s:g} s to mutate')
    return got[0]


def run(target: str, *, count: int, rate_hz: float, valid_hz: float, seed: int,
        capture_timeout_s: float, max_seconds: float, settle_s: float = 2.0) -> dict[str, object]:
    """Send ``count`` hostile messages to ``target`` at ``rate_hz``; return what was sent."""
    import rclpy
    import rclpy.duration
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    from bottlefit_ros.msg import Bottleneck, Classification
    from bottlefit_ros.nodes._common import FRAME_QOS, RESULT_QOS

    rng = random.Random(seed)
    sent: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    rclpy.init()
    node = rclpy.create_node(f'fuzz_{target}')
    try:
        image_pub = None
        if target == 'edge':
            template = _capture(node, Bottleneck, 'bottleneck', FRAME_QOS, capture_timeout_s)
            pub = node.create_publisher(Bottleneck, 'bottleneck', FRAME_QOS)
            image_pub = node.create_publisher(CompressedImage, 'image_raw/compressed',
                                              FRAME_QOS)
            cases, topic_type = BOTTLENECK_CASES, 'malformed'
        elif target == 'monitor':
            template = _capture(node, Classification, 'classification', RESULT_QOS,
                                capture_timeout_s)
            pub = node.create_publisher(Classification, 'classification', RESULT_QOS)
            cases, topic_type = CLASSIFICATION_CASES, 'malformed'
        elif target == 'camera':
            template = None
            pub = node.create_publisher(Image, 'image_raw', qos_profile_sensor_data)
            cases, topic_type = {}, 'malformed'
        else:
            raise ValueError(f'target must be edge, camera or monitor, got {target!r}')
        pubs = [p for p in (pub, image_pub) if p is not None]
        deadline = time.monotonic() + 30.0
        while (min(p.get_subscription_count() for p in pubs) == 0
               and time.monotonic() < deadline):
            rclpy.spin_once(node, timeout_sec=0.05)
        # Our side has matched the subscriber; give its side time to match us too,
        # or the first best-effort samples are lost before anyone can take them.
        settle = time.monotonic() + settle_s
        while time.monotonic() < settle:
            rclpy.spin_once(node, timeout_sec=0.05)
        period = 1.0 / rate_hz
        valid_period = 1.0 / valid_hz if valid_hz > 0 else math.inf
        start = next_bad = time.monotonic()
        # Valid frames half-way between hostile ones: the camera's input queue holds
        # one image, and one sent right after another would replace it unseen.
        next_valid = start + period / 2
        unusual = sorted(UNUSUAL_IMAGES)
        bad_sent = 0
        while bad_sent < count and time.monotonic() - start < max_seconds:
            now = time.monotonic()
            if target == 'camera' and now >= next_valid:
                if kinds['valid'] % 3 == 2 and kinds['unusual'] < kinds['valid']:
                    name = unusual[kinds['unusual'] % len(unusual)]
                    msg, kind = UNUSUAL_IMAGES[name](rng), 'unusual'
                else:
                    name, msg, kind = 'rgb8', _valid_image(rng), 'valid'
                msg.header.stamp = node.get_clock().now().to_msg()
                msg.header.frame_id = 'fuzz_camera'
                pub.publish(msg)
                sent[f'{kind}:{name}'] += 1
                kinds[kind] += 1
                next_valid += valid_period
            if now >= next_bad:
                to = pub
                if target == 'camera':
                    name = rng.choice(sorted(IMAGE_CASES))
                    msg = IMAGE_CASES[name](rng)
                    msg.header.stamp = node.get_clock().now().to_msg()
                elif image_pub is not None and bad_sent % 3 == 2:
                    name = rng.choice(sorted(COMPRESSED_CASES))
                    msg, to = COMPRESSED_CASES[name](rng), image_pub
                    msg.header.stamp = node.get_clock().now().to_msg()
                    kinds['offload'] += 1               # of the malformed ones
                    name = f'offload/{name}'
                else:
                    name, msg = _mutate(template, cases, rng)
                to.publish(msg)
                sent[f'{topic_type}:{name}'] += 1
                kinds[topic_type] += 1
                bad_sent += 1
                next_bad += period
            rclpy.spin_once(node, timeout_sec=max(0.0, min(next_bad, next_valid)
                                                  - time.monotonic()))
        # Let the last samples go out: reliable ones until acknowledged (a slow
        # receiver takes them later), best-effort ones for a moment.
        for p in pubs:
            if hasattr(p, 'wait_for_all_acked'):
                p.wait_for_all_acked(rclpy.duration.Duration(seconds=30.0))
        time.sleep(1.0)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return {'target': target, 'seed': seed, 'totals': dict(kinds), 'cases': dict(sent)}


NODES: tuple[str, ...] = ('camera_node', 'edge_node', 'monitor_node')


def _rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return math.nan


class _Diagnostics:
    """The latest ``/diagnostics`` values of each node, keyed by node name."""

    def __init__(self) -> None:
        import rclpy
        import rclpy.context
        import rclpy.executors
        from diagnostic_msgs.msg import DiagnosticArray

        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('fuzz_campaign', context=self.context)
        self.status: dict[str, dict[str, str]] = {}
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on, 50)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on(self, msg) -> None:
        for st in msg.status:
            self.status[st.name.rsplit('/', 1)[-1]] = {kv.key: kv.value for kv in st.values}

    def wait(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.1)
        return predicate()

    def fresh(self, timeout_s: float = 30.0) -> bool:
        """Forget what was seen; wait for a new status of every node."""
        self.status.clear()
        return self.wait(lambda: set(NODES) <= set(self.status), timeout_s)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def _ints(values: dict[str, str]) -> dict[str, int]:
    return {k: int(v) for k, v in values.items() if v.lstrip('-').isdigit()}


def campaign(out_dir: str | Path, *, count: int, rate_hz: float, valid_hz: float = 4.0,
             seed: int = 0, params_file: str = '', timeout_s: float = 600.0) -> dict:
    """Run the three nodes and the three fuzzers (``count`` hostile messages each at
    ``rate_hz``); return what was sent, each node's counters and memory, and liveness."""
    from bottlefit_ros.deployment import NodeSpec
    from bottlefit_ros.launcher import default_params_file, node_command, stop_processes

    # Network rule, as the demo starter does: unless told otherwise, discovery stays
    # on this host, in a domain of this run's own (nodes and fuzzers inherit it).
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(1, 100)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params_file = params_file or default_params_file()
    extra = {'edge_node': {'num_threads': 1, 'diagnostics_period_s': 0.5},
             'monitor_node': {'summary_period_s': 0.5},
             'camera_node': {'source': 'topic', 'num_threads': 1, 'diagnostics_period_s': 0.5}}
    procs: dict[str, subprocess.Popen] = {}
    fuzzers: dict[str, subprocess.Popen] = {}
    diag = _Diagnostics()
    report: dict = {'count': count, 'rate_hz': rate_hz, 'valid_hz': valid_hz, 'seed': seed,
                    'out_dir': str(out)}
    try:
        for name in ('edge_node', 'monitor_node', 'camera_node'):
            cmd = node_command(NodeSpec(name), params_file=params_file, extra=extra[name])
            with (out / f'{name}.log').open('w') as log:
                procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        if not diag.wait(lambda: set(NODES) <= set(diag.status), 120):
            raise RuntimeError(f'nodes did not report within 120 s; logs in {out}')
        report['rss_mb_before'] = {n: _rss_mb(p.pid) for n, p in procs.items()}
        t0 = time.monotonic()
        # The camera's driver first: the edge and monitor fuzzers mutate real frames.
        for target, rate, more in (('camera', rate_hz, ['--valid-hz', str(valid_hz)]),
                                   ('edge', rate_hz, []), ('monitor', rate_hz, [])):
            fuzzers[target] = subprocess.Popen(
                [sys.executable, '-P', '-m', 'bottlefit_ros.fuzz', '--target', target,
                 '--count', str(count), '--rate-hz', str(rate), '--seed', str(seed),
                 '--max-seconds', str(timeout_s), '--summary', str(out / f'fuzz_{target}.json'),
                 *more], stdout=subprocess.DEVNULL, stderr=(out / f'fuzz_{target}.err').open('w'))
        codes = {t: f.wait(timeout=timeout_s + 120) for t, f in fuzzers.items()}
        report['fuzz_seconds'] = time.monotonic() - t0
        report['fuzzer_exit_codes'] = codes
        report['sent'] = {t: json.loads((out / f'fuzz_{t}.json').read_text())
                          for t, c in codes.items() if c == 0}
        # Let what is in flight land: read every node's counters until two fresh
        # readings in a row agree.
        previous: dict = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(1.0)
            diag.fresh()
            now = {n: _ints(diag.status.get(n, {})) for n in NODES}
            if now == previous:
                break
            previous = now
        report['alive'] = {n: p.poll() is None for n, p in procs.items()}
        report['rss_mb_after'] = {n: _rss_mb(p.pid) for n, p in procs.items()}
        report['counters'] = {n: _ints(diag.status.get(n, {})) for n in NODES}
    finally:
        for f in fuzzers.values():
            if f.poll() is None:
                f.kill()
                f.wait()
        stop_processes(procs, timeout_s=15.0)
        diag.close()
    report['exit_codes'] = {n: p.returncode for n, p in procs.items()}
    report['forged_log_lines'] = {
        n: sum(line.startswith('[FATAL] forged')
               for line in (out / f'{n}.log').read_text(errors='replace').splitlines())
        for n in procs}
    (out / 'report.json').write_text(json.dumps(report, indent=2, sort_keys=True))
    return report


def format_report(r: dict) -> str:
    """The campaign's table, as Markdown."""
    sent = {t: s['totals'] for t, s in r.get('sent', {}).items()}
    c = r['counters']
    cam, edge, mon = c['camera_node'], c['edge_node'], c['monitor_node']
    edge_rejected = sum(v for k, v in edge.items() if k.startswith('rejected_'))
    mon_not_measured = mon.get('results_in', 0) - mon.get('results', 0)
    rows = [
        ('camera_node', sent.get('camera', {}).get('malformed', 0),
         sent.get('camera', {}).get('valid', 0) + sent.get('camera', {}).get('unusual', 0),
         cam.get('frames_in', 0), cam.get('frames_missed', 0), cam.get('frames_rejected', 0),
         cam.get('frames_sent', 0)),
        ('edge_node', sent.get('edge', {}).get('malformed', 0), cam.get('frames_sent', 0),
         edge.get('frames_in', 0), edge.get('frames_missed', 0), edge_rejected,
         edge.get('frames_served', 0)),
        ('monitor_node', sent.get('monitor', {}).get('malformed', 0),
         edge.get('frames_served', 0), mon.get('results_in', 0), mon.get('frames_lost', 0),
         mon_not_measured, mon.get('results', 0)),
    ]
    lines = [f'{r["count"]} hostile messages per node at {r["rate_hz"]:g}/s, valid camera '
             f'frames at {r["valid_hz"]:g} Hz, seed {r["seed"]}; '
             f'{r.get("fuzz_seconds", math.nan):.0f} s', '',
             '| node | hostile sent | valid sent to it | received | missed (counted) | '
             'rejected / not measured | served / measured | alive | exit | '
             'RSS MB before -> after | forged log lines |',
             '|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|']
    for name, hostile, valid, got, missed, rejected, served in rows:
        lines.append(
            f'| {name} | {hostile:,} | {valid:,} | {got:,} | {missed:,} | {rejected:,} | '
            f'{served:,} | '
            f'{"yes" if r["alive"].get(name) else "NO"} | {r["exit_codes"].get(name)} | '
            f'{r["rss_mb_before"][name]:.0f} -> {r["rss_mb_after"][name]:.0f} | '
            f'{r["forged_log_lines"][name]} |')
    lines.append('')
    for name in NODES:
        reasons = {k: v for k, v in c[name].items() if v and k.startswith(
                   ('rejected_', 'results_', 'frames_', 'seq', 'dropped_'))}
        lines.append(f'- {name}: ' + ', '.join(f'{k} {v:,}' for k, v in sorted(reasons.items())))
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bottlefit_ros.fuzz --target edge|camera|monitor``, or ``--campaign``."""
    ap = argparse.ArgumentParser(prog='python -m bottlefit_ros.fuzz',
                                 description=__doc__.split('\n\n')[0])
    ap.add_argument('--target', choices=('edge', 'camera', 'monitor'))
    ap.add_argument('--campaign', action='store_true',
                    help='start the three nodes and fuzz all of them at once; print a table')
    ap.add_argument('--out-dir', default='', help='--campaign: logs and report.json')
    ap.add_argument('--count', type=int, default=200, help='hostile messages to send')
    ap.add_argument('--rate-hz', type=float, default=50.0, help='hostile messages per second')
    ap.add_argument('--valid-hz', type=float, default=5.0,
                    help='camera target: valid frames per second beside them')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--capture-timeout-s', type=float, default=60.0)
    ap.add_argument('--max-seconds', type=float, default=600.0)
    ap.add_argument('--settle-s', type=float, default=2.0,
                    help='wait after matching the target before sending')
    ap.add_argument('--summary', default='', help='also write the JSON summary here')
    a = ap.parse_args(argv)
    if a.count < 0 or a.rate_hz <= 0 or a.valid_hz < 0:
        ap.error('--count >= 0, --rate-hz > 0 and --valid-hz >= 0')
    if a.campaign:
        import tempfile

        out = a.out_dir or tempfile.mkdtemp(prefix='bottlefit_fuzz_')
        report = campaign(out, count=a.count, rate_hz=a.rate_hz, valid_hz=a.valid_hz,
                          seed=a.seed, timeout_s=a.max_seconds)
        print(format_report(report))
        print(f'\nlogs and report.json in {out}')
        return 0 if all(report['alive'].values()) else 1
    if not a.target:
        ap.error('--target or --campaign')
    summary = run(a.target, count=a.count, rate_hz=a.rate_hz, valid_hz=a.valid_hz, seed=a.seed,
                  capture_timeout_s=a.capture_timeout_s, max_seconds=a.max_seconds,
                  settle_s=a.settle_s)
    line = json.dumps(summary, sort_keys=True)
    print(line, flush=True)
    if a.summary:
        Path(a.summary).write_text(line + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
