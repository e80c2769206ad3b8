"""A robot–edge link on one machine, ROS-free: two network namespaces joined by
a veth pair, with a link profile (rate, loss, delay) applied to both ends.

Used by ``benchmarks/field_rehearsal.py`` and ``benchmarks/scenario_rehearsal.py``
(which changes a live link: :meth:`NetnsLink.set_profile`). Needs root
(``ip netns``) and iproute2's ``ip`` and ``tc``.

What is applied, and how (see ``docs/field-rehearsal.md``):

- **rate**: ``tbf`` as the root qdisc of each veth end (robot→edge is "up",
  edge→robot "down");
- **loss**: a random per-packet drop on each end's egress. Preferred: a
  4-instruction classic-BPF program (``SKF_AD_RANDOM``) in a ``cls_bpf``
  direct-action filter on a ``clsact`` qdisc, which sees IP fragments, like a
  radio does. Else, where the ``iptables`` program exists:
  ``iptables -A OUTPUT -o <veth> -m statistic --mode random --probability p -j DROP``
  (it sees whole datagrams, before fragmentation). The method used is recorded;
- **delay**: ``netem`` where the kernel has it (probed on the veth itself);
  otherwise nothing is applied and :attr:`NetnsLink.notes` says
  ``delay not applied: netem unavailable in this kernel``.

Nothing here can reach the machine's real interfaces: each namespace holds only
``lo`` and its end of the veth, and has no route but the veth's /30.
Deleting a namespace removes its veth end (and so the pair), qdiscs, filters
and netfilter rules; :class:`NetnsLink` always does that on exit, also after an
exception, and registers an ``atexit`` hook for interpreter exits.
"""
from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Sequence

__all__ = ['LINK_PROFILES', 'LinkProfile', 'NetnsError', 'NetnsLink', 'install_signal_cleanup',
           'netns_available', 'udp_echo_check']

SIDES: tuple[str, ...] = ('robot', 'edge')
DELAY_UNAVAILABLE = 'delay not applied: netem unavailable in this kernel'


class NetnsError(RuntimeError):
    """Namespaces or the link could not be set up (not root, no ``ip netns``, ...)."""


@dataclass(frozen=True)
class LinkProfile:
    """One emulated link. Rates in Mbit/s (``None``: not shaped), ``loss`` the
    probability that a packet is dropped, per direction; ``delay_ms`` one-way."""

    name: str
    up_mbit: float | None = None       # robot -> edge
    down_mbit: float | None = None     # edge -> robot
    loss: float = 0.0
    delay_ms: float = 0.0
    description: str = ''

    def __post_init__(self) -> None:
        for key in ('up_mbit', 'down_mbit'):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ValueError(f'{self.name}: {key} must be > 0 or None, got {value!r}')
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f'{self.name}: loss must be in [0, 1), got {self.loss!r}')
        if self.delay_ms < 0:
            raise ValueError(f'{self.name}: delay_ms must be >= 0, got {self.delay_ms!r}')

    def describe(self) -> str:
        """One line: ``up 5 Mbit/s, down 5 Mbit/s, loss 2%, delay 40 ms``."""
        def rate(v: float | None) -> str:
            return 'unshaped' if v is None else f'{v:g} Mbit/s'
        return (f'up {rate(self.up_mbit)}, down {rate(self.down_mbit)}, '
                f'loss {self.loss * 100:g}%, delay {self.delay_ms:g} ms')


# Illustrative figures, not measurements: typical orders of magnitude for a
# robot on a good or a congested Wi-Fi cell and on a cellular uplink, chosen to
# bracket what a field trial may meet. Loss is what remains at the IP layer
# (after the radio's own retransmissions). Replace them with figures measured on
# the trial site (e.g. iperf3 for rate and loss, ping for delay).
LINK_PROFILES: dict[str, LinkProfile] = {p.name: p for p in (
    LinkProfile('loopback', description='no shaping: the namespaces and veth alone '
                '(the floor the other profiles add to)'),
    LinkProfile('wifi_good', up_mbit=50, down_mbit=50, loss=0.001, delay_ms=5,
                description='Wi-Fi, robot near the access point (illustrative)'),
    LinkProfile('wifi_poor', up_mbit=5, down_mbit=5, loss=0.02, delay_ms=40,
                description='Wi-Fi, far from the access point or a busy cell (illustrative)'),
    LinkProfile('lte', up_mbit=10, down_mbit=30, loss=0.005, delay_ms=50,
                description='LTE, uplink-limited (illustrative)'),
)}


def _run(cmd: Sequence[str], *, check: bool = True, timeout: float = 20.0
         ) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise NetnsError(f'`{" ".join(cmd)}` failed ({proc.returncode}): '
                         f'{(proc.stderr or proc.stdout).strip()}')
    return proc


def netns_available() -> str:
    """Empty when namespaces can be made here; otherwise why not (for skips
    and the benchmark's exit message)."""
    if os.name != 'posix' or not hasattr(os, 'geteuid'):
        return 'network namespaces need Linux'
    if os.geteuid() != 0:
        return 'needs root (ip netns add, tc)'
    for tool in ('ip', 'tc'):
        if shutil.which(tool) is None:
            return f'`{tool}` (iproute2) is not installed'
    name = f'bf{os.getpid()}probe'
    proc = subprocess.run(['ip', 'netns', 'add', name], capture_output=True, text=True)
    if proc.returncode != 0:
        return f'`ip netns add` is not permitted here: {proc.stderr.strip()}'
    subprocess.run(['ip', 'netns', 'del', name], capture_output=True)
    return ''


def _tbf(rate_mbit: float) -> list[str]:
    """tbf arguments: burst of at least 16 KiB or two 4 ms-ticks at line rate
    (tbf needs burst >= rate / HZ), queue bounded at 400 ms of traffic."""
    bytes_per_s = rate_mbit * 1e6 / 8
    burst = max(16384, int(bytes_per_s * 0.008))
    return ['tbf', 'rate', f'{rate_mbit:g}mbit', 'burst', str(burst), 'latency', '400ms']


def _bpf_drop(loss: float) -> str:
    """Classic BPF (tc ``bytecode`` syntax) returning TC_ACT_SHOT with probability
    ``loss``: ``ld rand; jge #t, pass, drop; pass: ret #0; drop: ret #2``."""
    skf_ad_random = 0xFFFFF000 + 56          # SKF_AD_OFF + SKF_AD_RANDOM
    threshold = min(2**32 - 1, round(loss * 2**32))
    return f'4,32 0 0 {skf_ad_random},53 0 1 {threshold},6 0 0 0,6 0 0 2'


_counter = itertools.count()
_live: set['NetnsLink'] = set()


@dataclass(eq=False)
class NetnsLink:
    """Context manager: the two namespaces, the veth pair and the profile.

    ``with NetnsLink(LINK_PROFILES['wifi_poor']) as link:`` then
    ``link.popen('edge', cmd)``, ``link.run('robot', cmd)``; ``link.set_profile(p)``
    changes the live link. Robot processes are
    pinned to CPU ``robot_cpus``, edge ones to ``edge_cpus`` (``taskset -c``;
    pinning is skipped on a machine with fewer CPUs than named).
    """

    profile: LinkProfile
    robot_cpus: str = '0'
    edge_cpus: str = '1'
    ns: dict[str, str] = field(init=False)
    dev: dict[str, str] = field(init=False)
    ip: dict[str, str] = field(init=False)
    notes: list[str] = field(init=False, default_factory=list)
    applied: dict[str, str] = field(init=False, default_factory=dict)
    # (time.time(), profile name, applied) of each set_profile() on the live link
    history: list[tuple[float, str, dict[str, str]]] = field(init=False, default_factory=list)
    _up: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        k = next(_counter)
        tag = f'bf{os.getpid()}n{k}'          # <= 15 characters: interface names
        self.ns = {'robot': f'{tag}r', 'edge': f'{tag}e'}
        self.dev = {'robot': f'{tag}r', 'edge': f'{tag}e'}
        subnet = f'10.231.{k % 256}'
        self.ip = {'robot': f'{subnet}.1', 'edge': f'{subnet}.2'}

    # -- set-up and teardown ---------------------------------------------
    def __enter__(self) -> 'NetnsLink':
        why = '' if os.geteuid() == 0 else 'needs root (ip netns add, tc)'
        if why:
            raise NetnsError(why)
        _live.add(self)
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _setup(self) -> None:
        for side in SIDES:
            _run(['ip', 'netns', 'add', self.ns[side]])
            self._up = True
        # Both ends are created directly inside the namespaces: the veth never
        # exists in the machine's own namespace.
        _run(['ip', 'link', 'add', self.dev['robot'], 'netns', self.ns['robot'], 'type', 'veth',
              'peer', 'name', self.dev['edge'], 'netns', self.ns['edge']])
        for side in SIDES:
            ns, dev = self.ns[side], self.dev[side]
            _run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
            _run(['ip', '-n', ns, 'addr', 'add', f'{self.ip[side]}/30', 'dev', dev])
            _run(['ip', '-n', ns, 'link', 'set', dev, 'up'])
        self._apply_profile()
        self._wait_operstate_up()
        for side in SIDES:
            names = set(self.interfaces(side))
            if names != {'lo', self.dev[side]}:
                raise NetnsError(f'namespace {self.ns[side]} has unexpected interfaces {names}')

    def _wait_operstate_up(self, timeout_s: float = 5.0) -> None:
        # The kernel reports a new veth's carrier up to ~1 s late (linkwatch);
        # DDS enumerates interfaces once, at start-up, and skips those not up.
        deadline = time.monotonic() + timeout_s
        while True:
            states = {side: json.loads(_run(['ip', '-n', self.ns[side], '-j', 'link', 'show',
                                             'dev', self.dev[side]]).stdout)[0]['operstate']
                      for side in SIDES}
            if all(state == 'UP' for state in states.values()):
                return
            if time.monotonic() > deadline:
                raise NetnsError(f'veth did not come up within {timeout_s:g} s: {states}')
            time.sleep(0.05)

    def _apply_profile(self) -> None:
        """Shape both ends to :attr:`profile`; :attr:`applied` and :attr:`notes` say how."""
        p = self.profile
        self.applied = {}
        rates = {'robot': p.up_mbit, 'edge': p.down_mbit}
        delay_ok = True
        for side in SIDES:
            ns, dev = self.ns[side], self.dev[side]
            parent = ['root']
            if p.delay_ms > 0 and delay_ok:
                proc = _run(['tc', '-n', ns, 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:',
                             'netem', 'delay', f'{p.delay_ms:g}ms'], check=False)
                if proc.returncode == 0:
                    parent = ['parent', '1:']
                    self.applied['delay'] = f'netem delay {p.delay_ms:g}ms each way'
                else:
                    delay_ok = False
                    note = (f'{DELAY_UNAVAILABLE} ({p.delay_ms:g} ms asked; '
                            f'tc said: {proc.stderr.strip()})')
                    if note not in self.notes:
                        self.notes.append(note)
            if rates[side] is not None:
                _run(['tc', '-n', ns, 'qdisc', 'add', 'dev', dev, *parent, 'handle', '10:',
                      *_tbf(rates[side])])
            if p.loss > 0:
                self.applied['loss'] = self._add_loss(ns, dev, p.loss)
        if p.up_mbit or p.down_mbit:
            self.applied['rate'] = (f'tbf up {p.up_mbit or "unshaped"} / down '
                                    f'{p.down_mbit or "unshaped"} Mbit/s')

    def set_profile(self, profile: LinkProfile) -> dict[str, str]:
        """Re-shape the live link to ``profile`` (rate and loss each way, delay where
        netem exists) without tearing the namespaces down: each end's root qdisc and
        loss rule are removed and applied anew (a gap of a few milliseconds). Returns
        what is applied now (:attr:`applied`); :attr:`history` keeps every change as
        ``(time.time(), profile name, applied)``."""
        if not self._up:
            raise NetnsError('the link is not set up')
        for side in SIDES:
            ns, dev = self.ns[side], self.dev[side]
            _run(['tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'root'], check=False)
            _run(['tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'clsact'], check=False)
            if 'iptables' in self.applied.get('loss', ''):
                _run(['ip', 'netns', 'exec', ns, 'iptables', '-F', 'OUTPUT'])
        self.profile = profile
        self._apply_profile()
        self.history.append((time.time(), profile.name, dict(self.applied)))
        return dict(self.applied)

    def _add_loss(self, ns: str, dev: str, loss: float) -> str:
        _run(['tc', '-n', ns, 'qdisc', 'add', 'dev', dev, 'clsact'])
        proc = _run(['tc', '-n', ns, 'filter', 'add', 'dev', dev, 'egress', 'protocol', 'ip',
                     'pref', '1', 'bpf', 'da', 'bytecode', _bpf_drop(loss)], check=False)
        if proc.returncode == 0:
            return f'tc cls_bpf random drop p={loss:g} per packet, each direction'
        if shutil.which('iptables'):
            _run(['ip', 'netns', 'exec', ns, 'iptables', '-A', 'OUTPUT', '-o', dev, '-m',
                  'statistic', '--mode', 'random', '--probability', f'{loss:g}', '-j', 'DROP'])
            return f'iptables statistic drop p={loss:g} per datagram, each direction'
        raise NetnsError(f'cannot apply loss: tc cls_bpf failed ({proc.stderr.strip()}) and '
                         'iptables is not installed')

    def close(self) -> None:
        """Stop what still runs in the namespaces, delete them (idempotent)."""
        _live.discard(self)
        if not self._up:
            return
        self._up = False
        for side in SIDES:
            ns = self.ns[side]
            pids = _run(['ip', 'netns', 'pids', ns], check=False).stdout.split()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                alive = [int(p) for p in pids if _alive(int(p))]
                for pid in alive:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 3.0
                while any(_alive(p) for p in alive) and time.monotonic() < deadline:
                    time.sleep(0.05)
            _run(['ip', 'netns', 'del', ns], check=False)

    # -- inside the namespaces ---------------------------------------------
    def command(self, side: str, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run in ``side``'s namespace, pinned to that side's CPUs."""
        if side not in SIDES:
            raise ValueError(f'side must be one of {SIDES}, got {side!r}')
        cpus = self.robot_cpus if side == 'robot' else self.edge_cpus
        pin: list[str] = []
        if cpus and shutil.which('taskset') and _cpus_exist(cpus):
            pin = ['taskset', '-c', cpus]
        return ['ip', 'netns', 'exec', self.ns[side], *pin, *cmd]

    def popen(self, side: str, cmd: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``cmd`` in ``side``'s namespace (``subprocess.Popen`` keywords)."""
        return subprocess.Popen(self.command(side, cmd), **kwargs)

    def run(self, side: str, cmd: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        """Run ``cmd`` to completion in ``side``'s namespace."""
        kwargs.setdefault('capture_output', True)
        kwargs.setdefault('text', True)
        return subprocess.run(self.command(side, cmd), **kwargs)

    def interfaces(self, side: str) -> list[str]:
        """Interface names in ``side``'s namespace."""
        out = _run(['ip', '-n', self.ns[side], '-j', 'link', 'show']).stdout
        return [link['ifname'] for link in json.loads(out)]

    def tx_bytes(self, side: str) -> int:
        """Bytes sent so far by ``side``'s veth end (what crossed the link)."""
        out = _run(['ip', '-n', self.ns[side], '-s', '-j', 'link', 'show', 'dev',
                    self.dev[side]]).stdout
        link = json.loads(out)[0]
        stats = link.get('stats64') or link.get('stats')
        return int(stats['tx']['bytes'])

    def shaping(self, side: str) -> str:
        """``tc qdisc`` and ``tc filter`` of ``side``'s veth end, as text."""
        ns, dev = self.ns[side], self.dev[side]
        return (_run(['tc', '-n', ns, 'qdisc', 'show', 'dev', dev]).stdout
                + _run(['tc', '-n', ns, 'filter', 'show', 'dev', dev, 'egress'],
                       check=False).stdout)

    def dds_env(self, side: str) -> dict[str, str]:
        """Environment for an rclpy process on ``side``: discovery by unicast to
        the peer's veth address only (``ROS_STATIC_PEERS``), multicast off
        (``LOCALHOST``); no Fast DDS XML profile."""
        peer = self.ip['edge' if side == 'robot' else 'robot']
        return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'ROS_STATIC_PEERS': peer}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cpus_exist(cpus: str) -> bool:
    wanted: set[int] = set()
    for part in cpus.split(','):
        lo, _, hi = part.partition('-')
        wanted.update(range(int(lo), int(hi or lo) + 1))
    return wanted <= os.sched_getaffinity(0)


@atexit.register
def _close_all() -> None:
    for link in list(_live):
        link.close()


def install_signal_cleanup() -> None:
    """Make SIGTERM and SIGHUP raise ``SystemExit`` so that ``with`` blocks
    and ``finally`` clauses (hence :meth:`NetnsLink.close`) run on them too.
    SIGINT already raises ``KeyboardInterrupt``."""
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def udp_echo_check(link: NetnsLink, *, count: int = 20, timeout_s: float = 5.0,
                   python: str = 'python3') -> int:
    """Send ``count`` UDP datagrams from the robot namespace to an echo server
    in the edge namespace; return how many echoes came back (``ping`` stand-in)."""
    port = 40000 + os.getpid() % 20000
    server = (
        'import socket,sys\n'
        f's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("{link.ip["edge"]}",{port}))\n'
        f's.settimeout({timeout_s});print("ready",flush=True)\n'
        'try:\n'
        '    while True:\n'
        '        d,a=s.recvfrom(2048);s.sendto(d,a)\n'
        'except socket.timeout:\n'
        '    pass\n')
    client = (
        'import socket,time\n'
        f's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(0.5);n=0\n'
        f'for i in range({count}):\n'
        f'    s.sendto(str(i).encode(),("{link.ip["edge"]}",{port}))\n'
        '    try:\n'
        '        n+=s.recv(2048)==str(i).encode()\n'
        '    except socket.timeout:\n'
        '        pass\n'
        'print(n)\n')
    srv = link.popen('edge', [python, '-c', server], stdout=subprocess.PIPE, text=True)
    try:
        if srv.stdout.readline().strip() != 'ready':
            raise NetnsError('UDP echo server did not start in the edge namespace')
        out = link.run('robot', [python, '-c', client], timeout=timeout_s + count)
        return int(out.stdout.strip() or 0)
    finally:
        srv.kill()
        srv.wait()
