"""Intel RAPL energy counters through the Linux powercap framework.

Files (Linux ``Documentation/power/powercap/powercap.rst``)::

    /sys/class/powercap/intel-rapl:<p>/name                  "package-<p>" or "psys"
    /sys/class/powercap/intel-rapl:<p>/energy_uj             cumulative energy, microjoules
    /sys/class/powercap/intel-rapl:<p>/max_energy_range_uj   the counter wraps to 0 past this
    /sys/class/powercap/intel-rapl:<p>:<s>/...               sub-zones: core, uncore, dram

Power is the energy difference between two reads over the time between them; a counter
smaller than last time has wrapped, and ``max_energy_range_uj`` is added back (one wrap
at most between reads: at 100 W the common 262 kJ range wraps every ~43 min). The power
is the mean over the interval, so a sample is stamped at the interval's midpoint. The
counters update about every millisecond in steps of the energy unit (~61 uJ on many
parts): reads much closer than a few ms apart are dominated by that granularity.

Total = sum of the ``package-*`` zones (one per socket). Sub-zones (core, uncore, dram)
are parts of their package or separate DRAM domains and are reported as rails, not added;
so is ``psys`` (laptops, Skylake and later), which covers the whole platform *including*
the packages: adding it would count them twice. RAPL is the CPU's own model of its
package, not a measurement of the robot's whole draw (no display, radio, motors...).
The same driver serves AMD Zen CPUs (package zones only).

Since the PLATYPUS fix (CVE-2020-8694, Linux 5.10 and distribution backports),
``energy_uj`` is readable by root only; this reader says how to grant access.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import PowerReaderError
from ..reader import ClockNs, PowerReader, PowerSample
from ._sysfs import read_number, read_text, reader_error, under_root

__all__ = ["POWERCAP_DIR", "RaplPower", "permission_message"]

POWERCAP_DIR = "/sys/class/powercap"
_ZONE_RE = re.compile(r"^intel-rapl:(\d+(?::\d+)*)$")


@dataclass(frozen=True, slots=True)
class _Zone:
    zone: str  # "intel-rapl:0:1"
    label: str  # "package-0/uncore"
    energy_path: Path
    max_range_uj: int
    top_level: bool
    counts_in_total: bool


def permission_message(path: Path) -> str:
    """The explanation given when ``energy_uj`` cannot be read."""
    return (
        f"rapl: cannot read {path}: permission denied. Since the PLATYPUS fix "
        "(CVE-2020-8694, Linux 5.10 and distribution backports) the RAPL energy counters "
        "are readable by root only, because they leak a power side channel. Either run "
        "as root, or grant read access (this re-opens that side channel to the users you "
        "grant it to):\n"
        "  until reboot:  sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj\n"
        "  persistently:  echo 'SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", "
        "ACTION==\"add\", RUN+=\"/bin/chmod o+r /sys%p/energy_uj\"' | "
        "sudo tee /etc/udev/rules.d/99-rapl-energy.rules && sudo udevadm control --reload "
        "&& sudo udevadm trigger --subsystem-match=powercap\n"
        "  or (broad):    sudo setcap cap_dac_read_search+ep \"$(readlink -f \"$(command -v python3)\")\" "
        "- lets every script that interpreter runs read any file; prefer the udev rule.\n"
        "Or pick another reader: make_power_reader('estimate', profile=...)."
    )


def _zone_key(path: Path) -> tuple[int, ...]:
    match = _ZONE_RE.match(path.name)
    assert match is not None
    return tuple(int(part) for part in match.group(1).split(":"))


class RaplPower(PowerReader):
    """CPU package power from RAPL energy counters; see the module docstring."""

    name = "intel-rapl"
    measured = True

    def __init__(self, *, root: Path = Path("/"), clock_ns: ClockNs = time.monotonic_ns) -> None:
        super().__init__(clock_ns=clock_ns)
        self.root = Path(root)
        base = under_root(self.root, POWERCAP_DIR)
        dirs = sorted(
            (p for p in base.glob("intel-rapl:*") if _ZONE_RE.match(p.name) and (p / "energy_uj").exists()),
            key=_zone_key,
        )
        if not dirs:
            raise PowerReaderError(
                f"rapl: no RAPL zone found: {base}/intel-rapl:*/energy_uj does not exist "
                "(not an x86 CPU with RAPL, the intel_rapl_msr module is not loaded, or a "
                "VM/container without /sys/class/powercap)"
            )
        names: dict[tuple[int, ...], str] = {}
        zones = []
        try:
            for d in dirs:
                key = _zone_key(d)
                name = read_text(d / "name")
                names[key] = name
                top = len(key) == 1
                label = name if top else f"{names.get(key[:1], f'intel-rapl:{key[0]}')}/{name}"
                zones.append(
                    _Zone(
                        zone=d.name,
                        label=label,
                        energy_path=d / "energy_uj",
                        max_range_uj=int(read_number(d / "max_energy_range_uj")),
                        top_level=top,
                        counts_in_total=top and name.startswith("package"),
                    )
                )
        except OSError as exc:
            raise reader_error("rapl", Path(exc.filename or base), exc) from None
        if not any(z.counts_in_total for z in zones):
            # No zone named package-*: count every top-level zone except psys.
            zones = [replace(z, counts_in_total=z.top_level and z.label != "psys") for z in zones]
        self._zones = zones
        self._last_uj: list[float] = []
        self._last_ns = 0
        self._last_sample: PowerSample | None = None
        self._read_energies()  # fail now (permission) rather than in the sampler thread

    @property
    def rail_names(self) -> tuple[str, ...]:
        """Rail labels: ``package-0``, ``package-0/core``, ``psys``..."""
        return tuple(z.label for z in self._zones)

    def _read_energies(self) -> list[float]:
        energies = []
        for zone in self._zones:
            try:
                energies.append(read_number(zone.energy_path))
            except PermissionError:
                raise PowerReaderError(permission_message(zone.energy_path)) from None
            except OSError as exc:
                raise reader_error("rapl", zone.energy_path, exc) from None
        return energies

    def start(self) -> None:
        """Take the baseline counters; the first :meth:`read` averages from here."""
        self._last_uj = self._read_energies()
        self._last_ns = self._clock_ns()
        self._last_sample = None
        super().start()

    def read(self) -> PowerSample:
        """Mean power since the previous read (or :meth:`start`), stamped at the midpoint."""
        if not self.started:
            self.start()
        energies = self._read_energies()
        now_ns = self._clock_ns()
        dt_ns = now_ns - self._last_ns
        if dt_ns <= 0:  # two reads within one clock tick: nothing new to say
            return self._last_sample or PowerSample(now_ns, 0.0, {z.label: 0.0 for z in self._zones})
        rails_w = {}
        for zone, before, after in zip(self._zones, self._last_uj, energies):
            delta_uj = after - before
            if delta_uj < 0:  # the counter wrapped past max_energy_range_uj
                delta_uj += zone.max_range_uj
            rails_w[zone.label] = delta_uj * 1e3 / dt_ns  # uJ/ns = 1e3 W
        total = sum(rails_w[z.label] for z in self._zones if z.counts_in_total)
        sample = PowerSample(stamp_ns=self._last_ns + dt_ns // 2, power_w=total, rails_w=rails_w)
        self._last_uj, self._last_ns, self._last_sample = energies, now_ns, sample
        return sample

    def describe(self) -> str:
        counted = [z.label for z in self._zones if z.counts_in_total]
        rails = [z.label for z in self._zones if not z.counts_in_total]
        psys = " (psys covers the packages too, so it is not added)" if "psys" in rails else ""
        return (
            f"Intel RAPL via powercap: total = {' + '.join(counted)}; reported, not added: "
            f"{', '.join(rails) or 'none'}{psys}. CPU package energy only, not the whole "
            "machine; power = energy delta / time between reads, wrap-around corrected with "
            f"max_energy_range_uj. Files: {', '.join(str(z.energy_path) for z in self._zones)}"
        )
