"""Which mode the robot should use for its next frame: local, split or offload.

ROS-free and deterministic, so it is tested on recorded inputs; the camera node
is a thin adapter that feeds it what the pipeline measures and applies its choice.

Each delivered result is an :class:`Observation` of one mode: the robot's compute
time, the edge's (carried in results), the payload's bytes and the transport time
(end to end minus compute). From these the policy keeps exponentially weighted
estimates per mode, and a link model fitted to (bytes, transport) pairs of every
edge mode, ``transport_ms = base_ms + bytes / bytes_per_ms``, so a mode not used
for a while is still predicted from the link as it is now (Neurosurgeon, Kang et
al., ASPLOS 2017, predicts from profiled layer costs and the measured link the
same way).

Predicted end to end latency of a mode is robot compute + transport + edge
compute; predicted energy per frame is :func:`estimate_frame_energy` of those,
with the robot's power profile. :meth:`ModePolicy.choose` picks the mode of least
predicted cost (latency or energy, by ``objective``) among the eligible ones:
edge modes only while the edge is available, and only under the bandwidth cap.
The estimates are robust (:class:`_Average`: an outlier moves a mean by a few
spreads at most), and a slower average of how far frames exceed the typical
value adds a tail of slow frames back, so the prediction is the expected
latency. Each prediction carries its standard error (from the mode's spread and
miss rate); the current mode is kept unless another is predicted better by more
than the hysteresis plus :data:`CONFIDENCE` standard errors of the less certain
of the two (:meth:`ModePolicy.worth_switching`), and the current one has
been kept a few frames; every ``probe_every`` frames one frame
goes to the least recently observed other mode, so its estimates stay fresh
(modes never observed are probed first, after ``min_dwell_frames``). A probe
never switches by itself: a mode that looks better from one frame is probed
again, up to :data:`CONFIRM_FRAMES` frames, before the policy switches to it
(unless it is predicted at least twice as cheap). When an
edge that was lost answers again (:meth:`ModePolicy.edge_returned`), what was
known of the edge modes describes a dead edge or an old link: it is forgotten,
and the next frames probe each edge mode at once. After a brief loss (a burst of
misses on a lossy link) the burst counts as one miss (a second burst of the same
mode within ``probe_every`` frames counts in full), and the mode in use before it
is the mode in use again once it answers: the loss, not a choice, had moved the
frames to local.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from bottlefit_ros.deployment import MODES
from bottlefit_ros.energy.frame_energy import estimate_frame_energy
from bottlefit_ros.energy.profiles import PowerProfile

__all__ = ["EDGE_MODES", "Decision", "ModePolicy", "Observation", "PolicyConfig", "Prediction"]

EDGE_MODES: frozenset[str] = frozenset({"split", "offload"})
OBJECTIVES: tuple[str, ...] = ("latency", "energy")
# Deadline misses are counted as a rate this much slower than the other averages
# (alpha / MISS_ALPHA_DIVISOR): one fallback on a good link moves a mode's cost a
# little, a link that loses a fifth of its frames moves it a lot within ~20 frames.
MISS_ALPHA_DIVISOR = 4
# The link model predicts a stale mode's transport only from a line that fits its
# points this well (mean absolute residual / mean transport).
LINK_FIT_TOLERANCE = 0.25
# A mode that looks better from fewer frames than this (one probe) is probed again
# before the policy switches to it, unless it is predicted at least twice as cheap.
CONFIRM_FRAMES = 3
# A mode whose estimate is better than the current one's by more than the
# hysteresis, but not by its uncertainty, is probed until it has this many frames.
EXPLORE_FRAMES = 8
# A switch needs a gain beyond the hysteresis of this many standard errors of the
# two modes' estimates (the larger one's). 2 kept offload on a lossy link after
# split's probes had measured it 26 ms faster (the rehearsal's run H, round 2);
# 1.5, replayed on thirteen recordings, left fewer phases over 1.1 x the best.
CONFIDENCE = 1.5


@dataclass(frozen=True)
class Observation:
    """What one delivered frame says about its mode (times in ms). ``transport_ms``:
    the rest of the frame's time to its result, beyond robot and edge compute (for
    ``local``, publishing it and waiting for the CPU: under a robot's CPU quota as
    much as 80 % of its compute). ``missed``: no result by the deadline (answered
    by fallback); its transport is then only a lower bound, the rest of the
    deadline."""

    mode: str
    robot_compute_ms: float
    edge_compute_ms: float = 0.0
    payload_bytes: int = 0
    transport_ms: float = 0.0
    missed: bool = False


@dataclass(frozen=True)
class Prediction:
    """A mode's predicted cost per frame; ``spread_ms``: how far its frames'
    end-to-end latency strays from the typical; ``uncertainty_ms``: the standard
    error of ``latency_ms`` itself, from that spread and the miss rate's (NaN: not
    measured yet)."""

    latency_ms: float
    energy_j: float
    payload_bytes: float
    spread_ms: float = math.nan
    uncertainty_ms: float = math.nan


@dataclass(frozen=True)
class Decision:
    """The mode for the next frame, and why (``keep``, ``switch``, ``probe``,
    ``no_edge``, ``cap``, ``resume``, ``start``)."""

    mode: str
    reason: str
    predictions: dict[str, Prediction] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyConfig:
    """Settings of :class:`ModePolicy` (the camera node's ``adaptive_*`` parameters)."""

    objective: str = "latency"
    bandwidth_cap_bps: float = 0.0     # 0 = no cap
    frame_rate_hz: float = 10.0        # to turn bytes per frame into bits per second
    hysteresis: float = 0.1            # another mode must be this much (+ the spread) cheaper
    min_dwell_frames: int = 10         # frames kept before a switch
    probe_every: int = 50              # frames between probes; 0 = never probe
    alpha: float = 0.2                 # weight of a new observation in the averages
    modes: tuple[str, ...] = MODES

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        unknown = set(self.modes) - set(MODES)
        if not self.modes or unknown:
            raise ValueError(f"modes must be a non-empty subset of {MODES}, got {self.modes!r}")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.hysteresis < 0 or self.min_dwell_frames < 0 or self.probe_every < 0 \
                or self.bandwidth_cap_bps < 0 or self.frame_rate_hz <= 0:
            raise ValueError("hysteresis, min_dwell_frames, probe_every and bandwidth_cap_bps "
                             "must be >= 0 and frame_rate_hz > 0")


def _fit_line(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """``(base_ms, ms_per_byte)`` of a least-squares line through (bytes, transport)
    pairs, clamped to be non-negative; None without points."""
    if not points:
        return None
    n = len(points)
    mean_b = sum(b for b, _ in points) / n
    mean_t = sum(t for _, t in points) / n
    var_b = sum((b - mean_b) ** 2 for b, _ in points)
    if var_b <= 0 or mean_b <= 0:
        # One payload size seen: no slope to fit; charge it all per byte
        # (pessimistic for larger payloads, which is the safe side).
        return 0.0, (mean_t / mean_b if mean_b > 0 else 0.0)
    slope = max(0.0, sum((b - mean_b) * (t - mean_t) for b, t in points) / var_b)
    return max(0.0, mean_t - slope * mean_b), slope


class _Average:
    """Robust exponentially weighted mean and spread; the first sample sets the mean.

    ``spread`` is an exponentially weighted mean absolute deviation of the samples
    from the mean (NaN before the second sample). A sample moves the mean by at
    most :data:`CLIP` spreads (at least :data:`MIN_REL_SPREAD` of the mean), so one
    outlier, such as a frame answered by fallback at its deadline or a
    retransmission on a lossy link, barely moves it, while a lasting change does
    within a few samples: the spread counts every deviation in full and widens
    the clip. The mean so tracks the typical (median-like) value, the spread how
    far single frames stray from it.
    """

    CLIP = 3.0
    MIN_REL_SPREAD = 0.05

    def __init__(self, alpha: float) -> None:
        self.alpha, self.value, self.spread, self.n = alpha, math.nan, math.nan, 0
        self.excess = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        if self.n == 1:
            self.value = x
            return
        d = x - self.value
        # How far the samples' mean lies from the typical value (unclipped, slower:
        # a tail of slow frames, which the typical value leaves out by design).
        self.excess += self.alpha / MISS_ALPHA_DIVISOR * (d - self.excess)
        if math.isnan(self.spread):
            self.value += self.alpha * d
            self.spread = abs(d)
        else:
            limit = self.CLIP * max(self.spread, self.MIN_REL_SPREAD * abs(self.value))
            self.value += self.alpha * min(max(d, -limit), limit)
            self.spread += self.alpha * (abs(d) - self.spread)


class _ModeEstimate:
    def __init__(self, alpha: float) -> None:
        self.robot_ms = _Average(alpha)
        self.edge_ms = _Average(alpha)
        self.bytes = _Average(alpha)
        self.transport_ms = _Average(alpha)
        self.latency_ms = _Average(alpha)   # observed end to end: for its spread
        self.missed_ms = _Average(alpha)    # end to end of frames that missed the deadline
        self.miss_rate = 0.0                # of deadline misses (starts at none)
        self.run = 0                        # misses in a row, up to the last frame
        self.rate_before_run = 0.0          # miss_rate before them
        self.miss_alpha = alpha / MISS_ALPHA_DIVISOR
        self.frames = 0                     # observed since this estimate started
        self.last_frame = -1            # frame count at the last observation
        self.burst_at = -1              # frame count when a burst of its misses last
                                        # declared the edge lost (-1: never)


class ModePolicy:
    """See the module docstring. ``profile`` is the robot's power profile (needed
    for the ``energy`` objective; predictions carry NaN energy without one)."""

    def __init__(self, config: PolicyConfig = PolicyConfig(), *, initial: str = "split",
                 profile: PowerProfile | None = None) -> None:
        if initial not in config.modes:
            raise ValueError(f"initial mode {initial!r} is not among {config.modes}")
        if config.objective == "energy" and profile is None:
            raise ValueError("the energy objective needs the robot's power profile")
        self.config = config
        self.profile = profile
        self.mode = initial
        self.edge_available = True
        self._est = {m: _ModeEstimate(config.alpha) for m in config.modes}
        self._link: deque[tuple[int, float, float]] = deque(maxlen=64)
        self._frames = 0
        self._since_switch = 0
        self._since_probe = 0
        self._reprobe: list[str] = []    # edge modes to probe at once (edge_returned)
        self._lost_at: int | None = None  # frame count when the edge was last lost
        self._before_loss = initial      # the mode in use when it was
        self._resume: str | None = None  # that mode, after a brief loss (edge_returned)

    # -- inputs ----------------------------------------------------------
    def observe(self, obs: Observation) -> None:
        """Fold one delivered frame into the estimates (invalid figures are ignored)."""
        values = (obs.robot_compute_ms, obs.edge_compute_ms, obs.transport_ms)
        if obs.mode not in self._est or not all(math.isfinite(v) and v >= 0 for v in values) \
                or obs.payload_bytes < 0:
            return
        if obs.missed and obs.mode in EDGE_MODES and not self.edge_available:
            # A liveness probe of a lost edge went unanswered: the edge is still lost,
            # which the policy knows; it says nothing of the mode on a working edge
            # (a two-minute outage's probes raised split's miss rate to ~0.6, and the
            # returned edge was then left for local).
            return
        est = self._est[obs.mode]
        if est.last_frame >= 0 and self._stale(est):
            # A probe after a long gap: the old estimates describe another link
            # (its miss rate and its tail of slow frames, slow by design, are kept:
            # one probe cannot tell them).
            old, est = est, _ModeEstimate(self.config.alpha)
            est.miss_rate, est.missed_ms = old.miss_rate, old.missed_ms
            est.latency_ms.excess = old.latency_ms.excess
            est.burst_at = old.burst_at
            self._est[obs.mode] = est
        est.robot_ms.add(obs.robot_compute_ms)
        est.last_frame = self._frames
        est.frames += 1
        if obs.missed:
            if est.run == 0:
                est.rate_before_run = est.miss_rate
            est.run += 1
        else:
            est.run = 0
        est.miss_rate += est.miss_alpha * (float(obs.missed) - est.miss_rate)
        total = obs.robot_compute_ms + obs.edge_compute_ms + obs.transport_ms
        if obs.mode in EDGE_MODES:
            est.bytes.add(float(obs.payload_bytes))
        if obs.missed:
            # How long a miss takes, not what the mode takes when it answers.
            est.missed_ms.add(total)
            return
        est.latency_ms.add(total)
        est.transport_ms.add(obs.transport_ms)
        if obs.mode in EDGE_MODES:
            est.edge_ms.add(obs.edge_compute_ms)
            self._link.append((self._frames, float(obs.payload_bytes), obs.transport_ms))

    def edge_returned(self) -> None:
        """The edge was lost and answers again (a new match, or a result in
        time): forget the edge modes' edge and transport times and the link, and
        probe each edge mode on the next frames, without waiting for
        ``probe_every``; the switch back to the edge may come at once (no dwell).
        Kept: the robot's own figures, its compute and bytes per frame (a mode
        over the bandwidth cap is not probed), and each mode's miss rate and
        cost of a miss: on a lossy link the edge is "lost" after a few misses in
        a row and answers again within a frame, and the mode that missed must
        not look as good as new. The misses in a row that declared the loss count
        as one: they were one event, not independent frames (in round 2 of the
        rehearsal's 14_g run three raised split's rate to 0.135); unless the same
        mode's misses declared a loss within the last ``probe_every`` frames too: a
        link that loses such bursts again and again is what the rate is for (run H,
        round 3: offload, resumed after one burst, met the next six frames later).
        After a long outage (lost for more than ``probe_every`` frames) the miss
        rates are forgotten too: the misses that declared the edge lost were the
        outage, and the link they measured is old. After a brief one, the mode in
        use before the loss is the mode in use again once its probe answered, and
        the choice goes on from it (:meth:`choose`): the loss, not a choice, moved
        the frames to local, and local must not keep them by the hysteresis."""
        long_outage = self._lost_at is not None and \
            self._frames - self._lost_at > max(1, self.config.probe_every)
        self.edge_available = True
        self._lost_at = None
        self._resume = self._before_loss if (
            not long_outage and self._before_loss in EDGE_MODES) else None
        for mode in self.config.modes:
            if mode in EDGE_MODES:
                est = self._est[mode]
                est.edge_ms = _Average(self.config.alpha)
                est.transport_ms = _Average(self.config.alpha)
                est.latency_ms = _Average(self.config.alpha)
                est.frames = 0
                if long_outage:
                    est.miss_rate, est.missed_ms = 0.0, _Average(self.config.alpha)
                elif est.run > 1:
                    if est.burst_at < 0 or \
                            self._frames - est.burst_at > max(1, self.config.probe_every):
                        est.miss_rate = est.rate_before_run + est.miss_alpha * (
                            1.0 - est.rate_before_run)
                    est.burst_at = self._frames
                est.run = 0
        self._link.clear()
        self._since_switch = max(self._since_switch, self.config.min_dwell_frames)
        self._reprobe = [m for m in self.config.modes
                         if m in EDGE_MODES and not self._over_cap(self._est[m].bytes.value)]

    def set_edge_available(self, available: bool) -> None:
        """Whether the edge answers (matched subscribers, recent results)."""
        if self.edge_available and not available and self._lost_at is None:
            self._lost_at = self._frames
            self._before_loss = self.mode
        self.edge_available = bool(available)

    # -- the model -------------------------------------------------------
    def link_model(self) -> tuple[float, float] | None:
        """``(base_ms, ms_per_byte)`` of a least-squares line through the (bytes,
        transport) pairs of the last ``2 * probe_every`` frames (at least the
        newest), clamped to be non-negative; None before any."""
        return _fit_line(self._link_window())

    def _link_window(self) -> list[tuple[float, float]]:
        if not self._link:
            return []
        horizon = self._frames - 2 * max(1, self.config.probe_every)
        return [(b, t) for f, b, t in self._link if f >= horizon] or [self._link[-1][1:]]

    def _link_transport(self, nbytes: float) -> float | None:
        """Transport of ``nbytes`` on the link as it is now, from :meth:`link_model`,
        when its window holds payloads of two sizes (at least 1.5 x apart, as split's
        and offload's are) and the line explains them (their mean absolute residual
        at most :data:`LINK_FIT_TOLERANCE` of their mean transport) with larger
        payloads slower; else None. One
        payload size gives no rate to tell how another would fare, and on a lossy
        link retransmissions scatter the points: the rehearsal's poor Wi-Fi made a
        line through offload's frames predict split at ~100 ms where it answered
        in ~57."""
        points = self._link_window()
        sizes = [b for b, _ in points]
        if not sizes or min(sizes) <= 0 or max(sizes) < 1.5 * min(sizes):
            return None
        fit = _fit_line(points)
        if fit is None:
            return None
        base, ms_per_byte = fit
        mean_t = sum(t for _, t in points) / len(points)
        residual = sum(abs(t - base - ms_per_byte * b) for b, t in points) / len(points)
        if ms_per_byte <= 0 or residual > LINK_FIT_TOLERANCE * mean_t:
            return None
        return base + ms_per_byte * nbytes

    def predict(self, mode: str) -> Prediction | None:
        """Predicted cost of ``mode`` now; None while it has never been observed."""
        est = self._est.get(mode)
        if est is None or math.isnan(est.robot_ms.value):
            return None
        # Every frame since the estimate started missed: it is all misses.
        all_missed = self._only_missed(mode)
        if all_missed and (est.frames == 0 or math.isnan(est.missed_ms.value)):
            return None
        robot = est.robot_ms.value
        edge = nbytes = transport = 0.0
        if mode not in EDGE_MODES and not math.isnan(est.transport_ms.value):
            transport = est.transport_ms.value   # local's: publishing, waiting for the CPU
        elif mode in EDGE_MODES:
            nbytes = est.bytes.value
            if all_missed:
                transport = max(0.0, est.missed_ms.value - robot)
            else:
                edge, transport = est.edge_ms.value, est.transport_ms.value
                now = self._link_transport(nbytes) if self._stale(est) else None
                if now is not None:
                    transport = now         # stale: the link as it is now
        # The expected latency, not only the typical: a mode whose answered frames
        # have a tail of slow ones (retransmitted JPEGs on a lossy link) costs that
        # tail's share too.
        tail = 0.0 if all_missed else max(0.0, est.latency_ms.excess)
        latency = robot + transport + edge + tail
        energy = math.nan
        if self.profile is not None:
            energy = estimate_frame_energy(self.profile, robot_compute_ms=robot,
                                           payload_bytes=int(nbytes),
                                           wait_ms=transport + edge if mode in EDGE_MODES
                                           else 0.0).energy_j
        # The prediction's standard error: that of an exponentially weighted mean
        # of the answered frames (from their spread; of n samples, no better than
        # their plain mean) and that of the miss rate (a Bernoulli rate).
        a, ma = self.config.alpha, est.miss_alpha
        n = max(1, est.latency_ms.n)
        variance = (est.latency_ms.spread ** 2) * max(a / (2.0 - a), 1.0 / n)
        rate = 1.0 if all_missed else est.miss_rate
        if rate > 0 and not math.isnan(est.missed_ms.value):
            # A share of the frames waits for the deadline and is answered here.
            penalty = max(0.0, est.missed_ms.value - latency)
            latency += rate * penalty
            if not all_missed:
                variance += rate * (1.0 - rate) * ma / (2.0 - ma) * penalty ** 2
            local = self.predict("local") if mode != "local" else None
            if local is not None and not math.isnan(energy):
                energy += rate * local.energy_j
        return Prediction(latency, energy, nbytes, est.latency_ms.spread, math.sqrt(variance))

    def status(self) -> dict[str, str]:
        """What the policy holds per mode, as ``/diagnostics`` values:
        ``predicted_ms_<mode>`` (its predicted end-to-end latency; ``nan`` before it
        can be predicted) and ``miss_rate_<mode>`` (its deadline-miss rate), so a
        choice can be followed in the field."""
        out: dict[str, str] = {}
        for mode in self.config.modes:
            p = self.predict(mode)
            out[f'predicted_ms_{mode}'] = f'{p.latency_ms:.1f}' if p is not None else 'nan'
            out[f'miss_rate_{mode}'] = f'{self._est[mode].miss_rate:.3f}'
        return out

    def _only_missed(self, mode: str) -> bool:
        """Every frame of ``mode`` since its estimates began missed (or none came)."""
        return math.isnan(self._est[mode].latency_ms.value)

    def _unanswered(self, mode: str) -> bool:
        """``mode`` has only missed since its estimates began, fewer than
        :data:`CONFIRM_FRAMES` times: it is still to be re-probed."""
        return self._only_missed(mode) and self._est[mode].frames < CONFIRM_FRAMES

    def _stale(self, est: _ModeEstimate) -> bool:
        return self._frames - est.last_frame > max(1, self.config.probe_every // 2)

    def _eligible(self, mode: str) -> bool:
        if mode in EDGE_MODES and not self.edge_available:
            return False
        return not self._over_cap(self._est[mode].bytes.value)

    def _over_cap(self, payload_bytes: float) -> bool:
        """Whether ``payload_bytes`` per frame exceed the bandwidth cap (NaN: unknown, no)."""
        cap = self.config.bandwidth_cap_bps
        return cap > 0 and payload_bytes * 8 * self.config.frame_rate_hz > cap

    def _cost(self, p: Prediction) -> float:
        return p.latency_ms if self.config.objective == "latency" else p.energy_j

    def _uncertainty(self, p: Prediction) -> float:
        """:data:`CONFIDENCE` standard errors of ``p`` (``p.uncertainty_ms``) in
        cost units (relative to its latency, for energy); unknown (one sample):
        the hysteresis of its cost."""
        rel = p.uncertainty_ms / p.latency_ms if p.latency_ms > 0 else 0.0
        if math.isnan(rel):
            return self._cost(p) * self.config.hysteresis
        return self._cost(p) * rel * CONFIDENCE

    def worth_switching(self, current: Prediction, other: Prediction) -> bool:
        """Whether ``other`` is cheaper than ``current`` by more than the
        hysteresis (a fraction of the current cost) plus the larger of the two
        estimates' uncertainties: a difference the estimates cannot tell apart
        is noise, and the mode in use is kept. (The band was the spread of single
        frames: on a lossy link the mode in use, its frames straying by tens of
        ms, was kept while another was predicted 40 % faster.)"""
        gain = self._cost(current) - self._cost(other)
        return gain > self._cost(current) * self.config.hysteresis + max(
            self._uncertainty(current), self._uncertainty(other))

    # -- the decision ----------------------------------------------------
    def choose(self) -> Decision:
        """The mode for the next frame; call once per frame."""
        self._frames += 1
        self._since_switch += 1
        self._since_probe += 1
        preds = {m: p for m in self.config.modes if (p := self.predict(m)) is not None}
        eligible = [m for m in self.config.modes if self._eligible(m)]
        if not eligible:                      # nothing fits the cap: the cheapest on the wire
            eligible = ["local"] if "local" in self.config.modes else list(self.config.modes)
        if self.mode not in eligible:
            known = [m for m in eligible if m in preds]
            best = min(known, key=lambda m: self._cost(preds[m])) if known else (
                "local" if "local" in eligible else eligible[0])
            return self._switch(best, "no_edge" if not self.edge_available else "cap", preds)
        while self._reprobe and self.edge_available:
            mode = self._reprobe.pop(0)
            if mode in eligible and mode not in preds:      # not re-observed yet
                self._since_probe = 0
                return Decision(mode, "probe", preds)
        if self._resume is not None and self.edge_available:
            # Back from a brief loss, the edge modes probed: the mode in use before it
            # is the mode in use again, and the next frames' choice goes on from it
            # (rounds 1 and 2 of the rehearsal's 14_g run: local, which the loss had
            # made the mode in use, kept 50 and 72 frames against a faster split). Not
            # before that mode answered a frame, or its re-probes below ran out.
            if not self._unanswered(self._resume):
                before, self._resume = self._resume, None
                if before in eligible and before != self.mode and before in preds \
                        and not self._only_missed(before) \
                        and not (self.mode in preds
                                 and self.worth_switching(preds[before], preds[self.mode])):
                    self.mode = before
                    return Decision(before, "resume", preds)
        # Never observed, or (an edge mode) only missed since its estimates began:
        # a returned edge's first frames often miss while it warms up, and one such
        # miss must not hide the mode until the next periodic probe (round 3 of the
        # rehearsal's 14_f run: 11 s back to the edge); re-probed every
        # min_dwell_frames, up to CONFIRM_FRAMES misses.
        unobserved = [m for m in eligible if m != self.mode and (
            m not in preds or (m in EDGE_MODES and self._unanswered(m)))]
        probe_due = self.config.probe_every and (
            self._since_probe >= self.config.probe_every
            or (unobserved and self._since_probe >= max(1, self.config.min_dwell_frames)))
        if probe_due:
            others = unobserved or [m for m in eligible if m != self.mode]
            if others:
                self._since_probe = 0
                probe = min(others, key=lambda m: self._est[m].last_frame)
                return Decision(probe, "probe", preds)
        current = preds.get(self.mode)
        known = [m for m in eligible if m in preds]
        if current is None or not known:
            return Decision(self.mode, "start", preds)
        best = min(known, key=lambda m: self._cost(preds[m]))
        if best != self.mode and self._since_switch >= self.config.min_dwell_frames:
            if self.worth_switching(current, preds[best]):
                if self._est[best].frames < CONFIRM_FRAMES \
                        and 2 * self._cost(preds[best]) > self._cost(current):
                    # Measured on a frame or two only (a probe): confirm before switching.
                    self._since_probe = 0
                    return Decision(best, "probe", preds)
                return self._switch(best, "switch", preds)
            gain = self._cost(current) - self._cost(preds[best])
            if gain > self._cost(current) * self.config.hysteresis \
                    and self._est[best].frames < EXPLORE_FRAMES:
                # Better by its estimate, but not beyond the band: a few more frames
                # of it narrow its band (else a two-frame estimate's band blocked the
                # switch until the next periodic probe started it afresh: round 2 of
                # 14_f, split at ~50 ms against local's ~75, left for 21 s).
                self._since_probe = 0
                return Decision(best, "probe", preds)
        return Decision(self.mode, "keep", preds)

    def _switch(self, mode: str, reason: str, preds: dict[str, Prediction]) -> Decision:
        self.mode = mode
        self._since_switch = 0
        return Decision(mode, reason, preds)
