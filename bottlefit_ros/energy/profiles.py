"""Per-device power profiles for estimates, from ``power_profiles.yaml``.

The packaged file ships rough, cited numbers (see its header); a user file with the same
schema, passed as ``path``, overrides or adds profiles by name. Files are read when a
profile is loaded, never at import.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import PowerProfileError

__all__ = ["PowerProfile", "load_power_profile", "power_profile_names"]

_PACKAGED = "power_profiles.yaml"


@dataclass(frozen=True, slots=True)
class PowerProfile:
    """Average power figures of one device (and mode) for the energy estimate.

    ``radio_tx_j_per_byte`` is the Wi-Fi transmit energy *above* idle per payload byte.
    ``source`` maps each number's field name to where it comes from; ``rough`` says the
    numbers are not measurements of this robot (true for every packaged profile).
    """

    name: str
    description: str
    idle_w: float
    compute_w: float
    radio_tx_j_per_byte: float
    source: Mapping[str, str] = field(default_factory=dict)
    rough: bool = True

    def __post_init__(self) -> None:
        for attr in ("idle_w", "compute_w", "radio_tx_j_per_byte"):
            value = getattr(self, attr)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise PowerProfileError(f"power profile {self.name!r}: {attr} must be a finite number >= 0, got {value!r}")


@functools.lru_cache(maxsize=1)
def _packaged_profiles() -> Mapping[str, Any]:
    text = resources.files(__package__).joinpath(_PACKAGED).read_text(encoding="utf-8")
    return _profiles_of(yaml.safe_load(text), _PACKAGED)


def _profiles_of(document: Any, origin: str) -> Mapping[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), dict):
        raise PowerProfileError(f"{origin}: expected a mapping with a 'profiles' mapping")
    return document["profiles"]


def _all_profiles(path: Path | None) -> dict[str, Any]:
    profiles = dict(_packaged_profiles())
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PowerProfileError(f"cannot read power profile file {path}: {exc.strerror or exc}") from None
        profiles.update(_profiles_of(yaml.safe_load(text), str(path)))
    return profiles


def power_profile_names(*, path: Path | None = None) -> tuple[str, ...]:
    """Every loadable name: ``<profile>`` and ``<profile>:<mode>`` for profiles with modes."""
    names = []
    for name, entry in _all_profiles(path).items():
        names.append(name)
        if isinstance(entry, dict) and isinstance(entry.get("modes"), dict):
            names.extend(f"{name}:{mode}" for mode in entry["modes"])
    return tuple(names)


def load_power_profile(name: str, *, path: Path | None = None) -> PowerProfile:
    """Load profile ``name`` (``"jetson_nano"``, or ``"jetson_nano:5w"`` for a mode).

    A profile with modes and no mode given uses its ``default_mode``. ``path`` is an
    optional user YAML file that takes precedence over the packaged one. Raises
    :class:`PowerProfileError` for an unknown profile or mode, or a malformed entry.
    """
    profiles = _all_profiles(path)
    base, _, mode = name.partition(":")
    entry = profiles.get(base)
    if not isinstance(entry, dict):
        known = ", ".join(power_profile_names(path=path))
        raise PowerProfileError(f"unknown power profile {name!r}; known: {known}")
    values = dict(entry)
    source = dict(values.get("source") or {})
    description = str(values.get("description", base))
    full_name = base
    modes = values.get("modes")
    if isinstance(modes, dict) and modes:
        mode = mode or str(values.get("default_mode", next(iter(modes))))
        if mode not in modes:
            raise PowerProfileError(f"power profile {base!r} has no mode {mode!r}; modes: {', '.join(modes)}")
        mode_values = dict(modes[mode])
        source.update(mode_values.pop("source", None) or {})
        if "description" in mode_values:
            description = f"{description}; {mode_values.pop('description')}"
        values.update(mode_values)
        full_name = f"{base}:{mode}"
    elif mode:
        raise PowerProfileError(f"power profile {base!r} has no modes, got {name!r}")
    try:
        return PowerProfile(
            name=full_name,
            description=description,
            idle_w=float(values["idle_w"]),
            compute_w=float(values["compute_w"]),
            radio_tx_j_per_byte=_radio_j_per_byte(values, full_name),
            source={str(k): str(v) for k, v in source.items()},
            rough=bool(values.get("rough", True)),
        )
    except KeyError as exc:
        raise PowerProfileError(f"power profile {full_name!r} lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise PowerProfileError(f"power profile {full_name!r}: {exc}") from None


def _radio_j_per_byte(values: Mapping[str, Any], name: str) -> float:
    if "radio_tx_j_per_byte" in values:
        return float(values["radio_tx_j_per_byte"])
    if "radio_tx_w" in values and "radio_throughput_mbps" in values:
        mbps = float(values["radio_throughput_mbps"])
        if mbps <= 0:
            raise PowerProfileError(f"power profile {name!r}: radio_throughput_mbps must be > 0")
        return float(values["radio_tx_w"]) / (mbps * 1e6 / 8)
    raise PowerProfileError(
        f"power profile {name!r} needs radio_tx_j_per_byte, or radio_tx_w and radio_throughput_mbps"
    )
