"""BottleFit students shipped inside the package (``models/data``), found by name and width.

A packaged student file holds only what training changed: the ``bottleneck.encoder.*``
and ``bottleneck.decoder.*`` tensors (stored as float16 to halve the size), plus a
``meta`` mapping. Everything else is the packaged teacher's, so
``build_split_model(model, bottleneck_channels=C, weights="default")`` builds the
teacher with its default weights and loads the packaged bottleneck over it.
How each file was trained: ``docs/model-card-*.md``. Read on first use, not at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .split_model import SplitModel

__all__ = ["PackagedStudent", "load_packaged_student", "packaged_student", "packaged_students"]


@dataclass(frozen=True)
class PackagedStudent:
    """A trained BottleFit student's bottleneck, shipped in ``bottlefit_ros/models/data``."""

    model: str
    bottleneck_channels: int
    decoder_channels: int
    filename: str
    model_card: str
    """The document that says how it was trained and how well it agrees with its teacher."""
    encoder: str = "bottlefit"
    """Encoder family (``bottleneck.ENCODERS``)."""


_PACKAGED: tuple[PackagedStudent, ...] = (
    PackagedStudent(model="efficientnet_lite0", bottleneck_channels=12, decoder_channels=256,
                    filename="efficientnet_lite0_bottlefit_c12.pt",
                    model_card="docs/model-card-efficientnet-lite0-bottlefit.md"),
    PackagedStudent(model="efficientnet_lite0", bottleneck_channels=8, decoder_channels=192,
                    filename="efficientnet_lite0_light_c8.pt",
                    model_card="docs/model-card-efficientnet-lite0-light.md", encoder="light"),
)


def packaged_students() -> tuple[PackagedStudent, ...]:
    """Every packaged student whose weights file is present."""
    return tuple(p for p in _PACKAGED if _path(p).is_file())


def packaged_student(model: str, bottleneck_channels: int) -> PackagedStudent | None:
    """The packaged student for ``model`` with ``bottleneck_channels``, if its file is present."""
    for p in packaged_students():
        if p.model == model and p.bottleneck_channels == bottleneck_channels:
            return p
    return None


def _path(p: PackagedStudent):  # noqa: ANN202 - importlib Traversable
    return resources.files(__package__).joinpath("data", p.filename)


def load_packaged_student(model: SplitModel, packaged: PackagedStudent) -> None:
    """Load ``packaged``'s bottleneck tensors into ``model`` (a student of the same shape).

    Raises ``ValueError`` unless the file holds exactly the model's ``bottleneck.*``
    tensors with matching shapes.
    """
    with resources.as_file(_path(packaged)) as path:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{packaged.filename}: not a packaged student (no state_dict)")
    own = {k: v for k, v in model.state_dict().items() if ".bottleneck." in f".{k}"}
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ValueError(f"{packaged.filename} does not fit: missing {missing[:4]}, "
                         f"unexpected {extra[:4]}")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise ValueError(f"{packaged.filename}: {key} has shape {tuple(value.shape)}, "
                             f"the model {tuple(own[key].shape)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)
