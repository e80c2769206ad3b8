"""The robot–edge link emulation (bottlefit_ros.netem) and the field-rehearsal
benchmark (benchmarks/field_rehearsal.py).

The namespace tests need root and a kernel that allows ``ip netns add``; they
skip with the reason otherwise. The end-to-end rehearsal also needs the
colcon-built package (rclpy, generated messages).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bottlefit_ros.cpuquota import cpu_quota_available
from bottlefit_ros.netem import (DELAY_UNAVAILABLE, LINK_PROFILES, LinkProfile, NetnsLink,
                                 _bpf_drop, netns_available, udp_echo_check)

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / 'benchmarks' / 'field_rehearsal.py'
NETNS_WHY = netns_available()
needs_netns = pytest.mark.skipif(bool(NETNS_WHY), reason=f'network namespaces: {NETNS_WHY}')


def _load_bench():
    spec = importlib.util.spec_from_file_location('field_rehearsal', BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _namespaces() -> set[str]:
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _link_exists(name: str) -> bool:
    return subprocess.run(['ip', 'link', 'show', 'dev', name], capture_output=True).returncode == 0


# -- ROS-free, no root ----------------------------------------------------------
def test_profiles_are_valid_data():
    assert {'loopback', 'wifi_good', 'wifi_poor', 'lte'} <= set(LINK_PROFILES)
    for name, p in LINK_PROFILES.items():
        assert p.name == name and p.description
        assert 'Mbit/s' in p.describe() or 'unshaped' in p.describe()
    with pytest.raises(ValueError, match='loss'):
        LinkProfile('bad', loss=1.0)
    with pytest.raises(ValueError, match='up_mbit'):
        LinkProfile('bad', up_mbit=0)


def test_bpf_drop_threshold_encodes_the_probability():
    prog = _bpf_drop(0.02).split(',')
    assert prog[0] == '4' and len(prog) == 5
    assert int(prog[2].split()[-1]) == round(0.02 * 2**32)


def test_reduction_and_table_format():
    bench = _load_bench()
    assert bench.reduction(100.0, 40.0) == pytest.approx(60.0)
    assert bench.reduction(100.0, 150.0) == pytest.approx(-50.0)
    rows = [bench.RunResult('wifi_good', m, 4, frames_delivered=4, e2e_ms={'p50': v, 'p95': v,
                                                                        'p99': v},
                            energy_j_per_frame=v / 100, energy_label='estimated')
            for m, v in (('local', 80.0), ('offload', 60.0), ('split', 40.0))]
    text = bench.format_profile('wifi_good', rows, None)
    assert 'split vs local: latency (e2e p50) reduced by +50.0 %' in text
    assert 'split vs offload: latency (e2e p50) reduced by +33.3 %' in text
    assert '0.400 (estimated)' in text


def test_qos_variants_set_both_ends_of_every_topic_alike():
    bench = _load_bench()
    assert {'reliable', 'best_effort', 'reliable_hb100'} <= set(bench.QOS_VARIANTS)
    for v in bench.QOS_VARIANTS.values():
        params = v.parameters(namespace='robot1')
        frames = [k for node in ('camera_node', 'edge_node') for k in params[node]
                  if '/bottleneck.' in k or '/image_raw/compressed.' in k]
        results = [(node, k) for node, ps in params.items() for k in ps
                   if '/classification.' in k]
        assert len(frames) == 4 and all(k.startswith('qos_overrides./robot1/') for k in frames)
        assert {params['camera_node' if 'publisher' in k else 'edge_node'][k]
                for k in frames} == {v.frames}
        # classification: edge and camera publish; camera and monitor subscribe.
        assert {n for n, k in results if k.endswith('publisher.reliability')} == {
            'edge_node', 'camera_node'}
        assert {n for n, k in results if k.endswith('subscription.reliability')} == {
            'camera_node', 'monitor_node'}
        assert {params[n][k] for n, k in results} == {v.results}


def test_first_answers_keep_each_frames_first_result():
    from bottlefit_ros.metrics import FrameRecord
    bench = _load_bench()

    def rec(seq: int, mode: str, stamp_ns: int, arrival_ns: int) -> FrameRecord:
        return FrameRecord(seq, mode, 'm', stamp_ns, arrival_ns, 0, 0, 0, 0, 0, 100, 1, 'x',
                           0.5)
    # Frame 1 answered by fallback, then by the edge, late; frame 3's offload
    # result carries the JPEG topic's sample number (2), not the camera's seq.
    records = [rec(0, 'offload', 0, 10), rec(1, 'fallback', 5, 30), rec(0, 'offload', 5, 50),
               rec(2, 'fallback', 10, 40), rec(2, 'offload', 15, 60)]
    first = bench.first_answers(records)
    assert [(r.stamp_ns, r.mode) for r in first] == [(0, 'offload'), (5, 'fallback'),
                                                     (10, 'fallback'), (15, 'offload')]


@pytest.mark.ros
def test_qos_variants_are_compatible_and_heartbeat_profile_is_replaced(tmp_path):
    missing = _ros_missing()
    if missing:
        pytest.skip(missing)
    bench = _load_bench()
    for v in bench.QOS_VARIANTS.values():
        assert bench.incompatible_pairs(v) == [], v.name
    packaged = bench.heartbeat_profile(bench.PACKAGED_HEARTBEAT_MS, tmp_path).read_text()
    slow = bench.heartbeat_profile(3000.0, tmp_path).read_text()
    assert packaged.count('<heartbeat_period>') == slow.count('<heartbeat_period>') == 1
    assert '<sec>0</sec><nanosec>100000000</nanosec>' in re.sub(r'\s', '', packaged)
    assert '<heartbeat_period><sec>3</sec><nanosec>0</nanosec></heartbeat_period>' in slow
    # The packaged profiles give every writer that period (the default chosen
    # from the QoS rehearsal, docs/field-rehearsal.md).
    for name in ('fastdds_memory.xml', 'fastdds_localhost.xml'):
        text = re.sub(r'\s', '', (REPO / 'config' / name).read_text())
        assert ('<heartbeat_period><sec>0</sec><nanosec>100000000</nanosec>'
                '</heartbeat_period>') in text, name


def test_benchmark_exits_2_without_namespaces(monkeypatch, capsys):
    bench = _load_bench()
    monkeypatch.setattr(bench, 'netns_available', lambda: 'needs root (ip netns add, tc)')
    assert bench.main(['--short']) == 2
    assert 'cannot emulate the link: needs root' in capsys.readouterr().err


# -- namespaces (root) ------------------------------------------------------------
@needs_netns
def test_link_up_reachable_shaped_and_gone_after_exit():
    profile = LinkProfile('t', up_mbit=20, down_mbit=10, loss=0.01, delay_ms=5)
    with NetnsLink(profile) as link:
        names = set(link.ns.values())
        assert names <= _namespaces()
        for side in ('robot', 'edge'):
            # Only lo and the veth: nothing in there can reach the real network.
            assert set(link.interfaces(side)) == {'lo', link.dev[side]}
            route = link.run(side, ['ip', 'route']).stdout
            assert 'default' not in route
        assert udp_echo_check(link, count=20) >= 15
        robot, edge = link.shaping('robot'), link.shaping('edge')
        assert 'tbf' in robot and 'rate 20Mbit' in robot and 'rate 10Mbit' in edge
        if 'iptables' in link.applied['loss']:
            rules = link.run('robot', ['iptables', '-S', 'OUTPUT']).stdout
            assert 'statistic' in rules and '-j DROP' in rules
        else:
            assert 'bpf' in robot and 'bpf' in edge
        if 'delay' in link.applied:
            assert 'netem' in robot
        else:
            assert any(n.startswith(DELAY_UNAVAILABLE) for n in link.notes)
        sleeper = link.popen('edge', ['sleep', '60'])
        devs = list(link.dev.values())
    assert not names & _namespaces()
    assert not any(_link_exists(d) for d in devs)
    assert sleeper.wait(5) is not None       # processes left in the namespace are stopped


@needs_netns
def test_link_torn_down_after_an_exception():
    with pytest.raises(RuntimeError, match='boom'):
        with NetnsLink(LINK_PROFILES['wifi_poor']) as link:
            names = set(link.ns.values())
            assert names <= _namespaces()
            raise RuntimeError('boom')
    assert not names & _namespaces()


@needs_netns
def test_loss_drops_about_the_given_fraction():
    receiver = ('import socket,sys\n'
                's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind((sys.argv[1],45999))\n'
                's.settimeout(1.0);print("ready",flush=True);n=0\n'
                'try:\n'
                '    while True: s.recv(100);n+=1\n'
                'except socket.timeout: print(n)\n')
    sender = ('import socket,sys,time\n'
              's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n'
              'for i in range(400): s.sendto(b"x",(sys.argv[1],45999)); time.sleep(0.0005)\n')
    with NetnsLink(LinkProfile('half', loss=0.5)) as link:
        rx = link.popen('edge', [sys.executable, '-c', receiver, link.ip['edge']],
                        stdout=subprocess.PIPE, text=True)
        assert rx.stdout.readline().strip() == 'ready'
        # ARP goes through (the filter matches IPv4 only); the first datagram may wait for it.
        link.run('robot', [sys.executable, '-c', sender, link.ip['edge']], timeout=30)
        received = int(rx.stdout.readline())
        rx.wait(5)
    assert 120 <= received <= 280, received


@needs_netns
def test_robot_and_edge_pinned_to_their_cores():
    with NetnsLink(LINK_PROFILES['loopback']) as link:
        if len(os.sched_getaffinity(0)) >= 2:
            assert link.command('robot', ['x'])[4:7] == ['taskset', '-c', '0']
            assert link.command('edge', ['x'])[4:7] == ['taskset', '-c', '1']
            out = link.run('edge', ['grep', 'Cpus_allowed_list', '/proc/self/status']).stdout
            assert out.split()[-1] == '1'



@needs_netns
def test_set_profile_reshapes_the_live_link():
    with NetnsLink(LINK_PROFILES['wifi_good']) as link:
        names = set(link.ns.values())
        assert 'rate 50Mbit' in link.shaping('robot')
        applied = link.set_profile(LINK_PROFILES['lte'])
        robot, edge = link.shaping('robot'), link.shaping('edge')
        assert 'rate 10Mbit' in robot and 'rate 30Mbit' in edge and '50Mbit' not in robot
        assert 'p=0.005' in applied['loss'] and link.profile.name == 'lte'
        assert udp_echo_check(link, count=20) >= 15
        # Loss of one half each way: an echo comes back a quarter of the time.
        link.set_profile(LinkProfile('half', loss=0.5))
        assert 'tbf' not in link.shaping('robot')
        assert udp_echo_check(link, count=40) <= 20
        link.set_profile(LINK_PROFILES['loopback'])
        assert link.applied == {} and 'bpf' not in link.shaping('robot')
        assert udp_echo_check(link, count=20) == 20
        assert [h[1] for h in link.history] == ['lte', 'half', 'loopback']
        assert link.history[0][2] == applied
    assert not names & _namespaces()


# -- the rehearsal, end to end (root + ROS) ---------------------------------------
def _ros_missing() -> str:
    try:
        import rclpy  # noqa: F401

        import bottlefit_ros.msg  # noqa: F401  (generated at build time)
    except ImportError as exc:
        return f'needs rclpy and the colcon-built package (`make test`): {exc}'
    return ''


@pytest.mark.ros
@pytest.mark.slow
@needs_netns
def test_short_rehearsal_prints_the_comparison(tmp_path):
    missing = _ros_missing()
    if missing and os.environ.get('BOTTLEFIT_REQUIRE_ROS') == '1':   # `make test`
        pytest.fail(missing)
    if missing:
        pytest.skip(missing)
    t0 = time.monotonic()
    throttle = [] if not cpu_quota_available() else ['--robot-cpu', '0']
    proc = subprocess.Popen([sys.executable, str(BENCH), '--short', '--out-dir', str(tmp_path),
                             *throttle],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert '### wifi_good:' in out
    assert ('robot unthrottled' if throttle else
            'robot throttled to 25 % of one core (cgroup') in out
    header = [line for line in out.splitlines() if line.startswith('| mode |')]
    assert len(header) == 1
    for col in ('e2e p50 ms', 'p95 ms', 'p99 ms', 'frames/s', 'bytes/frame', 'lost',
                'energy J/frame'):
        assert col in header[0]
    rows = {m: line for m in ('local', 'offload', 'split') for line in out.splitlines()
            if line.startswith(f'| {m} |')}
    assert set(rows) == {'local', 'offload', 'split'}
    for mode in ('offload', 'split'):
        delivered = re.search(r'\| (\d+)/(\d+) \|', rows[mode])
        assert delivered and int(delivered.group(1)) > 0, rows[mode]
    assert re.search(r'\((estimated|measured)\)', rows['split'])
    assert 'split vs local: latency (e2e p50) reduced by' in out
    assert 'split vs offload: latency (e2e p50) reduced by' in out
    assert str(tmp_path) in out
    results = json.loads((tmp_path / 'results.json').read_text())
    assert [r['mode'] for r in results] == ['local', 'offload', 'split']
    for mode in ('local', 'offload', 'split'):
        assert (tmp_path / 'wifi_good' / mode / 'frames.csv').exists()
    # Every namespace the run made is gone.
    assert not [n for n in _namespaces() if n.startswith(f'bf{proc.pid}n')]
    print(f'short rehearsal took {time.monotonic() - t0:.0f} s')
