"""The adaptive mode policy, driven by recorded per-mode figures (no ROS, no clock)."""
from __future__ import annotations

import math
import random
from collections import Counter
from typing import Callable

import pytest

from bottlefit_ros.energy.profiles import PowerProfile
from bottlefit_ros.policy import Decision, ModePolicy, Observation, PolicyConfig

# What a throttled robot beside a GPU edge measured, per mode (ms, bytes): robot
# compute, edge compute, payload; transport comes from the link of each phase.
ROBOT = {'local': 80.0, 'split': 10.0, 'offload': 3.0}
EDGE = {'local': 0.0, 'split': 8.0, 'offload': 12.0}
BYTES = {'local': 0, 'split': 7_600, 'offload': 24_000}


def link(base_ms: float, mbit_s: float) -> Callable[[int], float]:
    return lambda nbytes: base_ms + nbytes * 8 / (mbit_s * 1e3)


def run(policy: ModePolicy, frames: int, transport: Callable[[int], float],
        edge_up: bool = True) -> list[Decision]:
    """``frames`` frames: choose, then observe the chosen mode as the link makes it."""
    decisions = []
    policy.set_edge_available(edge_up)
    for _ in range(frames):
        d = policy.choose()
        decisions.append(d)
        m = d.mode
        policy.observe(Observation(m, ROBOT[m], EDGE[m], BYTES[m],
                                   transport(BYTES[m]) if m != 'local' else 0.0))
    return decisions


def settled(decisions: list[Decision], last: int = 20) -> str:
    """The mode most of the last frames used, probes aside."""
    kept = Counter(d.mode for d in decisions[-last:] if d.reason != 'probe')
    return kept.most_common(1)[0][0]


def test_probes_every_mode_then_settles_on_the_fastest():
    policy = ModePolicy(PolicyConfig(probe_every=25), initial='local')
    decisions = run(policy, 120, link(2.0, 50.0))          # good Wi-Fi: split 21 ms
    assert {d.mode for d in decisions[:30]} == {'local', 'split', 'offload'}
    assert settled(decisions) == 'split'
    assert policy.predict('split').latency_ms == pytest.approx(10 + 8 + 2 + 7_600 * 8 / 50e3,
                                                               rel=1e-6)


def test_follows_the_link_down_to_local_and_back():
    policy = ModePolicy(PolicyConfig(probe_every=20), initial='split')
    run(policy, 60, link(2.0, 50.0))
    assert policy.mode == 'split'
    poor = run(policy, 80, link(150.0, 1.0))                # 1 Mbit/s, long round trip
    assert settled(poor) == 'local'
    back = run(policy, 120, link(2.0, 50.0))
    assert settled(back) == 'split'                          # probes saw the link recover


def test_edge_loss_switches_to_local_at_once_and_no_edge_mode_is_used():
    policy = ModePolicy(PolicyConfig(probe_every=10), initial='split')
    run(policy, 40, link(2.0, 50.0))
    down = run(policy, 50, link(2.0, 50.0), edge_up=False)
    assert down[0].mode == 'local' and down[0].reason == 'no_edge'
    assert {d.mode for d in down} == {'local'}


def test_bandwidth_cap_excludes_modes_that_would_exceed_it():
    fast_link = link(0.5, 1000.0)          # offload would be fastest: 3 + 12 + 0.7 ms
    free = ModePolicy(PolicyConfig(probe_every=15), initial='offload')
    assert settled(run(free, 100, fast_link)) == 'offload'
    capped = ModePolicy(PolicyConfig(probe_every=15, frame_rate_hz=10.0,
                                     bandwidth_cap_bps=1e6), initial='offload')
    decisions = run(capped, 100, fast_link)  # 24 kB x 10 Hz = 1.9 Mbit/s > cap
    assert all(d.mode != 'offload' for d in decisions[1:])
    assert settled(decisions) == 'split'


def test_hysteresis_keeps_a_mode_that_is_only_slightly_worse():
    config = PolicyConfig(hysteresis=0.2, min_dwell_frames=5, probe_every=10, modes=('split', 'local'))
    policy = ModePolicy(config, initial='local')
    ROBOT_LOCAL = ROBOT['local']
    try:
        ROBOT['local'] = 23.0               # split: 10 + 8 + 2.6 = 20.6 ms, 10 % better
        assert settled(run(policy, 80, link(1.4, 50.0))) == 'local'
        ROBOT['local'] = 40.0               # now split is 48 % better
        assert settled(run(policy, 80, link(1.4, 50.0))) == 'split'
    finally:
        ROBOT['local'] = ROBOT_LOCAL


def test_energy_objective_can_differ_from_latency():
    # Local is faster here, but the robot's compute power makes it cost more energy.
    profile = PowerProfile(name='test', description='test', idle_w=1.0, compute_w=10.0,
                           radio_tx_j_per_byte=1e-6)
    saved = dict(ROBOT)
    try:
        ROBOT.update(local=30.0)             # split: 10 + 8 + 20 = 38 ms
        slow_link = link(18.8, 50.0)
        by_latency = ModePolicy(PolicyConfig(probe_every=10, modes=('split', 'local')),
                                initial='split', profile=profile)
        by_energy = ModePolicy(PolicyConfig(objective='energy', probe_every=10,
                                            modes=('split', 'local')),
                               initial='local', profile=profile)
        assert settled(run(by_latency, 80, slow_link)) == 'local'
        assert settled(run(by_energy, 80, slow_link)) == 'split'
        local, split = by_energy.predict('local'), by_energy.predict('split')
        assert local.energy_j == pytest.approx(0.3)                     # 10 W x 30 ms
        assert split.energy_j < local.energy_j
    finally:
        ROBOT.clear()
        ROBOT.update(saved)


def test_invalid_observations_are_ignored():
    policy = ModePolicy(initial='split')
    for bad in (Observation('split', math.nan), Observation('split', -1.0),
                Observation('split', 5.0, transport_ms=math.inf), Observation('warp', 5.0),
                Observation('split', 5.0, payload_bytes=-3)):
        policy.observe(bad)
    assert policy.predict('split') is None
    policy.observe(Observation('split', 5.0, 1.0, 100, 2.0))
    assert policy.predict('split').latency_ms == pytest.approx(8.0)


def test_link_model_recovers_base_and_rate_from_two_payload_sizes():
    policy = ModePolicy(initial='split')
    truth = link(3.0, 20.0)                               # 20 Mbit/s = 2.5 bytes/us
    for nbytes in (7_600, 24_000) * 5:
        mode = 'split' if nbytes < 10_000 else 'offload'
        policy.observe(Observation(mode, 1.0, 1.0, nbytes, truth(nbytes)))
    base, ms_per_byte = policy.link_model()
    assert base == pytest.approx(3.0)
    assert ms_per_byte == pytest.approx(8 / 20e3)


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match='objective'):
        PolicyConfig(objective='speed')
    with pytest.raises(ValueError, match='modes'):
        PolicyConfig(modes=('split', 'teleport'))
    with pytest.raises(ValueError, match='power profile'):
        ModePolicy(PolicyConfig(objective='energy'))
    with pytest.raises(ValueError, match='initial'):
        ModePolicy(PolicyConfig(modes=('local',)), initial='split')


def lost_edge(policy: ModePolicy, frames: int, deadline_ms: float = 300.0) -> None:
    """The edge dead for ``frames`` frames: the frames in flight at the kill (split
    and offload) fall back, then local answers, and every tenth frame a liveness
    probe falls back (each fallback observed as the camera's guard observes it:
    the mode's robot stages, and the rest of the deadline as transport)."""
    def fell_back(mode: str) -> None:
        policy.observe(Observation(mode, ROBOT[mode], 0.0, BYTES[mode],
                                   deadline_ms - ROBOT[mode]))
    for mode in ('split', 'offload', 'split'):
        fell_back(mode)
    policy.set_edge_available(False)
    for i in range(frames):
        d = policy.choose()
        assert d.mode == 'local'
        policy.observe(Observation('local', ROBOT['local']))
        if i % 10 == 0:
            fell_back('split')


def test_edge_returned_forgets_the_dead_edge_and_probes_its_modes_at_once():
    good = link(2.0, 50.0)
    policy = ModePolicy(PolicyConfig(probe_every=50), initial='split')
    run(policy, 100, good)
    assert policy.mode == 'split'
    lost_edge(policy, 60)
    assert policy.predict('split').latency_ms > 100      # what the dead edge taught it
    policy.edge_returned()
    assert policy.predict('split') is None and policy.predict('offload') is None
    assert policy.link_model() is None
    back = run(policy, 5, good)
    assert [d.mode for d in back[:2]] == ['split', 'offload']
    assert all(d.reason == 'probe' for d in back[:2])
    # The third frame is on the edge again (offload, 21 ms against split's 21.2 here).
    assert back[2].mode == 'offload' and back[2].reason == 'switch'
    assert policy.predict('split').latency_ms == pytest.approx(10 + 8 + good(BYTES['split']))


def test_edge_returned_does_not_probe_a_mode_over_the_bandwidth_cap():
    # 24 kB offload frames at 10 Hz are 1.9 Mbit/s: over a 1 Mbit/s cap.
    policy = ModePolicy(PolicyConfig(probe_every=10, bandwidth_cap_bps=1e6), initial='local')
    first = run(policy, 40, link(2.0, 50.0))
    assert 'offload' in {d.mode for d in first}           # probed once, then excluded
    lost_edge(policy, 20)
    policy.edge_returned()
    back = run(policy, 30, link(2.0, 50.0))
    assert back[0].mode == 'split' and back[0].reason == 'probe'
    assert 'offload' not in {d.mode for d in back}
    policy.edge_returned()       # called twice in a row: nothing breaks
    assert policy.choose().mode == 'split'


DEADLINE_MS = 250.0


def noisy_run(policy: ModePolicy, frames: int, latency: dict[str, Callable[[int], float]]
              ) -> list[Decision]:
    """``frames`` frames whose end-to-end latency per mode is ``latency[mode](i)``
    (frame ``i``): the robot and edge stages fixed, the rest transport (local:
all robot compute); from
    :data:`DEADLINE_MS` on, a missed deadline (as the camera's guard observes a
    fallback: edge time unknown, the rest transport)."""
    decisions = []
    for i in range(frames):
        d = policy.choose()
        decisions.append(d)
        m = d.mode
        e2e = latency[m](i)
        if m == 'local':
            policy.observe(Observation(m, e2e))
            continue
        missed = e2e >= DEADLINE_MS
        edge = 0.0 if missed else EDGE[m]
        policy.observe(Observation(m, ROBOT[m], edge, BYTES[m], max(0.0, e2e - ROBOT[m] - edge),
                                   missed=missed))
    return decisions


def lossy_link(rng: random.Random, *, offload_miss: float, offload_ms: tuple[float, float],
               split_ms: tuple[float, float], local_ms: float,
               ) -> dict[str, Callable[[int], float]]:
    """Per-mode latency on poor Wi-Fi as the rehearsal recorded it: offload's big JPEGs
    miss the deadline (answered at ~270 ms) on ``offload_miss`` of frames, split on 4 %."""
    return {'offload': lambda i: 270.0 if rng.random() < offload_miss else rng.uniform(*offload_ms),
            'split': lambda i: 270.0 if rng.random() < 0.04 else rng.uniform(*split_ms),
            'local': lambda i: local_ms}


def split_missed(policy: ModePolicy, times: int = 1) -> None:
    """``times`` split frames answered by fallback at the deadline (the guard's miss)."""
    for _ in range(times):
        policy.observe(Observation('split', ROBOT['split'], 0.0, BYTES['split'], 240.0,
                                   missed=True))


def miss_rate(policy: ModePolicy, mode: str) -> float:
    """``mode``'s deadline-miss rate, as the policy's status shows it (3 decimals)."""
    return float(policy.status()[f'miss_rate_{mode}'])


def switches(decisions: list[Decision]) -> int:
    return sum(d.reason == 'switch' for d in decisions)


def test_fallbacks_on_a_lossy_link_do_not_drive_it_off_the_fastest_mode():
    # As the scenario rehearsal measured on good Wi-Fi: offload ~29 ms, split ~36 ms,
    # and a few offload frames lost and answered by fallback at the 250 ms deadline
    # (2 of 300 there; every 50th here). A plain average jumped by ~45 ms at each:
    # the policy left offload for split at every fallback. Robust estimates, with
    # misses as a slow rate, stay on offload.
    rng = random.Random(8)
    latency = {'split': lambda i: rng.uniform(34.0, 38.0),
               'offload': lambda i: 255.0 if i % 50 == 7 else rng.uniform(26.0, 32.0),
               'local': lambda i: rng.uniform(100.0, 140.0)}
    decisions = noisy_run(ModePolicy(PolicyConfig(probe_every=50), initial='split'), 600,
                          latency)
    first = next(i for i, d in enumerate(decisions) if d.reason == 'switch')
    assert decisions[first].mode == 'offload' and first < 150
    chosen = Counter(d.mode for d in decisions[first:] if d.reason != 'probe')
    assert chosen['offload'] >= 0.97 * sum(chosen.values())
    assert switches(decisions) == 1                     # split -> offload, once


def test_rarely_switches_between_modes_that_are_alike():
    # Split and offload alike (30 ms typical, single frames +-6 ms): a difference
    # the estimates cannot tell apart is noise, and the mode in use is kept. The
    # probed mode is judged from one to three frames, which now and then look
    # better by chance: over 20 runs of 800 frames (160 s at 5 Hz) the policy
    # switched 8 times (with the hysteresis alone: 132); the
    # bound allows 1.5 per run.
    runs, total = 0, 0
    for seed in range(10):
        rng = random.Random(seed)
        latency = {m: (lambda i: rng.uniform(24.0, 36.0)) for m in ('split', 'offload')}
        latency['local'] = lambda i: 120.0
        for initial in ('split', 'offload'):
            policy = ModePolicy(PolicyConfig(probe_every=10, min_dwell_frames=5), initial=initial)
            decisions = noisy_run(policy, 800, latency)
            runs, total = runs + 1, total + switches(decisions)
            assert 1.0 < policy.predict(policy.mode).spread_ms < 6.0    # mean abs deviation 3 ms
    assert total <= 1.5 * runs, total


def test_a_mode_that_often_misses_its_deadline_is_left_for_one_that_rarely_does():
    # As the rehearsal measured on poor Wi-Fi (5 Mbit/s, 2 % loss): offload's
    # answered frames ~53 ms but 30 % of its frames fall back at ~270 ms (big JPEGs
    # retransmitted), split's ~56 ms with 4 % falling back. The typical latency
    # alone (and its spread, which misses would inflate) keeps offload; the
    # miss rate makes split the better mode, and the policy stays there.
    rng = random.Random(5)
    latency = lossy_link(rng, offload_miss=0.3, offload_ms=(50.0, 56.0), split_ms=(53.0, 59.0),
                         local_ms=120.0)
    policy = ModePolicy(PolicyConfig(probe_every=20), initial='offload')
    decisions = noisy_run(policy, 400, latency)
    first = next(i for i, d in enumerate(decisions) if d.reason == 'switch')
    assert decisions[first].mode == 'split' and first < 100
    assert switches(decisions) == 1 and policy.mode == 'split'
    split, offload = policy.predict('split'), policy.predict('offload')
    assert split.latency_ms < offload.latency_ms
    assert 53.0 < split.latency_ms < 80.0          # ~56 ms, and 4 % of frames at ~270


def test_a_lasting_change_is_followed_within_a_few_frames():
    # Robust estimates must not hide a real change: split goes from 20 to 200 ms
    # (the link collapsed), the policy leaves it for local within a few frames.
    policy = ModePolicy(PolicyConfig(probe_every=20, min_dwell_frames=5,
                                     modes=('split', 'local')), initial='split')
    noisy_run(policy, 40, {'split': lambda i: 20.0, 'local': lambda i: 80.0})
    assert policy.mode == 'split'
    worse = noisy_run(policy, 15, {'split': lambda i: 200.0, 'local': lambda i: 80.0})
    assert policy.mode == 'local'
    # (~2 s at 5 Hz; these inputs had no spread before the change, so the first
    # steps are clipped to 3 x 5 % of the mean; a plain average took 3 frames).
    # Local, better by its estimate before it is by the band (split's spread
    # widened by the change), is probed meanwhile: 6 of the 15 frames went to split
    # (the switch alone came at the 15th).
    assert sum(d.mode == 'split' for d in worse) <= 8
    assert 'switch' in [d.reason for d in worse]


@pytest.mark.parametrize('objective', ['latency', 'energy'])
def test_a_mode_whose_every_frame_misses_is_left(objective):
    # The link gone but the edge still matched: every split frame falls back.
    # Predicted from its misses alone (no answered frame since it was probed),
    # split costs the deadline and the fallback: local is chosen.
    profile = PowerProfile(name='test', description='test', idle_w=1.0, compute_w=10.0,
                           radio_tx_j_per_byte=1e-6)
    policy = ModePolicy(PolicyConfig(objective=objective, probe_every=20, min_dwell_frames=5,
                                     modes=('split', 'local')), initial='local', profile=profile)
    decisions = noisy_run(policy, 60, {'split': lambda i: 300.0, 'local': lambda i: 80.0})
    assert 'split' in {d.mode for d in decisions}                 # probed
    assert settled(decisions) == 'local' and switches(decisions) == 0
    split = policy.predict('split')
    assert split.latency_ms == pytest.approx(300.0)
    assert math.isfinite(split.energy_j) and split.energy_j > policy.predict('local').energy_j


def test_after_a_brief_loss_the_mode_that_missed_is_not_taken_again():
    # Poor Wi-Fi, as recorded: offload answers faster (~50 ms) but a third of
    # its frames miss; three misses in a row and the camera declares the edge
    # lost, then answers again a frame later. What was known of the edge is
    # forgotten, not its miss rates: split, which the policy had taken by then,
    # is the mode in use again at once (no dwell), and offload is not taken.
    rng = random.Random(11)
    latency = lossy_link(rng, offload_miss=0.35, offload_ms=(48.0, 52.0), split_ms=(55.0, 59.0),
                         local_ms=150.0)
    policy = ModePolicy(PolicyConfig(probe_every=50), initial='offload')
    noisy_run(policy, 40, {**latency, 'offload': lambda i: rng.uniform(48.0, 52.0)})
    assert policy.mode == 'offload'
    noisy_run(policy, 60, latency)                        # the link gets lossy
    policy.set_edge_available(False)
    assert noisy_run(policy, 2, latency)[0].reason == 'no_edge'
    policy.edge_returned()
    # (the next frames all answered: offload's faster, split's 57 ms)
    back = noisy_run(policy, 30, {**latency, 'offload': lambda i: 50.0,
                                  'split': lambda i: 57.0})
    assert [d.reason for d in back[:2]] == ['probe', 'probe']
    assert back[2].mode == 'split' and back[2].reason == 'resume'
    assert {d.mode for d in back[2:] if d.reason != 'probe'} == {'split'}
    assert switches(back) == 0


def test_after_a_long_outage_the_returned_edge_is_taken_again():
    # As the rehearsal recorded with the onnxruntime robot: the edge killed for two
    # minutes (600 frames at 5 Hz); the frames in flight at the kill and the guard's
    # liveness probes of the dead edge (1, 2, 4, then every 8 s) all miss. Those
    # probes once raised split's miss rate to ~0.6, and after the edge came back
    # the policy kept local (80 ms) for the rest of the run against split's 21.
    good = link(2.0, 50.0)
    policy = ModePolicy(PolicyConfig(probe_every=50, modes=('local', 'split')), initial='split')
    run(policy, 100, good)
    assert policy.mode == 'split'

    def missed() -> None:
        policy.observe(Observation('split', ROBOT['split'], 0.0, BYTES['split'],
                                   DEADLINE_MS - ROBOT['split'], missed=True))
    for _ in range(3):                  # in flight at the kill: the edge is declared lost
        missed()
    policy.set_edge_available(False)
    probes = {5, 15, 35, *range(75, 600, 40)}
    for i in range(600):
        assert policy.choose().mode == 'local'
        policy.observe(Observation('local', ROBOT['local']))
        if i in probes:
            missed()
    policy.edge_returned()
    back = run(policy, 20, good)
    assert back[0].mode == 'split' and back[0].reason == 'probe'
    assert back[1].mode == 'split' and back[1].reason == 'switch'
    assert [d.mode for d in back[2:]] == ['split'] * 18
    assert policy.predict('split').latency_ms == pytest.approx(10 + 8 + good(BYTES['split']))


def test_a_returned_edge_whose_first_frames_miss_is_probed_again_soon():
    # As round 3 of the rehearsal's 14_f run recorded: the restarted edge matched,
    # the policy probed split and offload at once, and both missed their deadline
    # (the edge still warming up); predicted from those misses alone (~230 and
    # ~390 ms) they lost to local, and split was probed again only at the next
    # periodic probe, 10 s later: 11.3 s from the restart to the edge.
    good = link(2.0, 50.0)
    policy = ModePolicy(PolicyConfig(probe_every=50, frame_rate_hz=5.0), initial='split')
    run(policy, 100, good)
    policy.set_edge_available(False)
    run(policy, 300, good, edge_up=False)
    policy.edge_returned()
    warming = [2]                       # the returned edge's first two frames miss

    def edge(mode: str) -> Callable[[int], float]:
        def e2e(i: int) -> float:
            if warming[0]:
                warming[0] -= 1
                return DEADLINE_MS
            return ROBOT[mode] + EDGE[mode] + good(BYTES[mode])
        return e2e
    frames = noisy_run(policy, 40, {'split': edge('split'), 'offload': edge('offload'),
                                    'local': lambda i: ROBOT['local']})
    assert [d.mode for d in frames[:2]] == ['split', 'offload']      # both missed
    settled_at = next(i for i in range(len(frames))
                      if all(d.mode in ('split', 'offload') for d in frames[i:]))
    assert settled_at <= 15, [(d.mode, d.reason) for d in frames]     # 3 s at 5 Hz


def test_a_mode_better_by_a_few_frames_is_probed_until_it_can_be_told():
    # As round 2 of 14_f recorded on poor Wi-Fi: local in use (~75 ms, +-8), split
    # probed twice at ~50-65 ms. A band from two frames was wider than the gain,
    # and split was not probed again until the next periodic probe, 20 s later.
    # A mode better by its estimate is probed a few frames more, and then taken.
    for seed in range(10):
        rng = random.Random(seed)
        latency = {'split': lambda i: rng.uniform(45.0, 65.0),
                   'offload': lambda i: DEADLINE_MS + 10.0,
                   'local': lambda i: rng.uniform(67.0, 83.0)}
        policy = ModePolicy(PolicyConfig(probe_every=50), initial='local')
        decisions = noisy_run(policy, 200, latency)
        first = next(i for i, d in enumerate(decisions) if d.reason == 'switch')
        assert decisions[first].mode == 'split' and first <= 40, (seed, first)


def test_a_brief_loss_of_the_mode_in_use_does_not_hand_the_frames_to_local():
    # As rounds 1 and 2 of the rehearsal's 14_g run recorded on poor Wi-Fi: split in
    # use (~55 ms, a few % of frames missing), local ~75 ms. Three split misses in a
    # row declared the edge lost; it answered again a frame later. That burst, kept
    # in split's miss rate, made split look no better than local, which the switch
    # to local had made the mode in use: 50 and 72 local frames followed. A loss the
    # policy did not choose gives local no incumbency: split is taken back.
    for seed in range(10):
        rng = random.Random(seed)
        latency = {'split': lambda i: 270.0 if rng.random() < 0.02 else rng.uniform(45.0, 65.0),
                   'offload': lambda i: 270.0 if rng.random() < 0.3 else rng.uniform(40.0, 90.0),
                   'local': lambda i: rng.uniform(67.0, 83.0)}
        policy = ModePolicy(PolicyConfig(probe_every=50, frame_rate_hz=5.0), initial='split')
        noisy_run(policy, 150, latency)
        assert policy.mode == 'split', seed
        for _ in range(3):
            policy.choose()
            policy.observe(Observation('split', ROBOT['split'], 0.0, BYTES['split'],
                                       DEADLINE_MS + 20.0 - ROBOT['split'], missed=True))
        policy.set_edge_available(False)
        assert policy.choose().reason == 'no_edge'
        policy.observe(Observation('local', 75.0))
        policy.edge_returned()
        # (split's next frames answered: the burst was the event)
        back = noisy_run(policy, 100, {**latency, 'split': lambda i: rng.uniform(45.0, 65.0)})
        local = sum(d.mode == 'local' for d in back)
        assert local <= 5, (seed, local, [(d.mode, d.reason) for d in back[:20]])
        # the frame that makes split the mode in use again says so (the camera logs it)
        assert [(d.mode, d.reason) for d in back[:5]].count(('split', 'resume')) == 1, seed
        assert Counter(d.mode for d in back[-50:] if d.reason != 'probe').most_common(1)[0][0] \
            == 'split', seed


def test_a_brief_loss_keeps_the_miss_rates_a_long_one_forgets_them():
    # The misses in a row that declared a brief loss count as one miss.
    policy = ModePolicy(PolicyConfig(probe_every=50), initial='split')
    run(policy, 60, link(2.0, 50.0))
    split_missed(policy)
    assert miss_rate(policy, 'split') == pytest.approx(0.05, abs=5e-4)    # alpha / 4
    policy.observe(Observation('split', ROBOT['split'], EDGE['split'], BYTES['split'], 3.0))
    before = miss_rate(policy, 'split')
    split_missed(policy, 3)
    assert miss_rate(policy, 'split') > 0.15
    policy.set_edge_available(False)
    run(policy, 5, link(2.0, 50.0), edge_up=False)         # lost for 5 frames
    policy.edge_returned()
    assert miss_rate(policy, 'split') == pytest.approx(before + 0.05 * (1 - before), abs=1e-3)
    policy.set_edge_available(False)
    run(policy, 51, link(2.0, 50.0), edge_up=False)        # more than probe_every
    policy.edge_returned()
    assert miss_rate(policy, 'split') == 0.0


def test_a_second_burst_of_the_same_mode_soon_after_counts_in_full():
    # Run H, round 3, on poor Wi-Fi: offload's three misses declared the edge lost,
    # offload was resumed and met the next burst six frames later, then a third. A
    # burst counts as one miss once; bursts again and again are the link's loss rate.
    def burst(policy: ModePolicy) -> None:
        split_missed(policy, 3)
        policy.set_edge_available(False)
        run(policy, 1, link(2.0, 50.0), edge_up=False)
        policy.edge_returned()

    policy = ModePolicy(PolicyConfig(probe_every=50), initial='split')
    run(policy, 60, link(2.0, 50.0))
    burst(policy)
    once = miss_rate(policy, 'split')
    assert once == pytest.approx(0.05, abs=5e-4)             # one miss
    run(policy, 6, link(2.0, 50.0))
    before = miss_rate(policy, 'split')
    burst(policy)                                             # 8 frames later: in full
    assert miss_rate(policy, 'split') == pytest.approx(1 - (1 - before) * 0.95 ** 3, abs=1e-3)
    run(policy, 60, link(2.0, 50.0))                          # more than probe_every later
    before = miss_rate(policy, 'split')
    burst(policy)
    assert miss_rate(policy, 'split') == pytest.approx(before + 0.05 * (1 - before), abs=1e-3)


def test_status_shows_each_modes_prediction_and_miss_rate():
    policy = ModePolicy(PolicyConfig(probe_every=50), initial='split')
    assert policy.status() == {'predicted_ms_local': 'nan', 'miss_rate_local': '0.000',
                               'predicted_ms_split': 'nan', 'miss_rate_split': '0.000',
                               'predicted_ms_offload': 'nan', 'miss_rate_offload': '0.000'}
    run(policy, 60, link(2.0, 50.0))
    split_missed(policy)
    status = policy.status()
    assert float(status['predicted_ms_split']) == pytest.approx(
        policy.predict('split').latency_ms, abs=0.05)
    assert float(status['predicted_ms_local']) == pytest.approx(ROBOT['local'])
    assert float(status['miss_rate_split']) == pytest.approx(0.05, abs=5e-4)



def test_leaves_a_mode_whose_slow_frames_make_it_slower_on_average():
    # As the rehearsal's poor Wi-Fi did to offload: most frames answered in 30-60 ms,
    # a quarter retransmitted and answered in 100-240 ms (before the deadline), so
    # ~80 ms on average against split's steady ~50. The typical value and a band of
    # single frames' spread kept offload in 4 of these 10 runs; the expected latency
    # (typical + the slow frames' share) and the estimates' standard errors take split.
    for seed in range(10):
        rng = random.Random(seed)
        latency = {'offload': lambda i: (rng.uniform(100.0, 240.0) if rng.random() < 0.25
                                         else rng.uniform(30.0, 60.0)),
                   'split': lambda i: rng.uniform(45.0, 55.0),
                   'local': lambda i: 150.0}
        policy = ModePolicy(PolicyConfig(probe_every=50), initial='offload')
        decisions = noisy_run(policy, 300, latency)
        assert Counter(d.mode for d in decisions[100:])['split'] >= 150, seed


def test_local_costs_its_time_beyond_compute_too():
    # The rehearsal's throttled robot (25 % of a core) on a fast host: local's
    # compute took ~22 ms, its result came ~40 ms after the camera started on the
    # frame (publishing, waiting for the CPU); split ~30 ms end to end. Predicted
    # from its compute alone, local looked faster than split and kept the frames.
    policy = ModePolicy(PolicyConfig(probe_every=10, min_dwell_frames=5,
                                     modes=('split', 'local')), initial='local')
    for _ in range(100):
        m = policy.choose().mode
        policy.observe(Observation('local', 22.0, transport_ms=18.0) if m == 'local' else
                       Observation('split', 4.0, 6.0, 5_000, 20.0))
    assert policy.predict('local').latency_ms == pytest.approx(40.0)
    assert policy.mode == 'split'
