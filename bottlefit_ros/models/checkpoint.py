"""Reading checkpoints and loading them into a SplitModel.

One loading path serves every case: a stock teacher state_dict (torchvision keys
``conv1``, ``layer2``, ``features``, ``classifier``, ``fc``; the
``efficientnet_lite_pytorch`` keys ``_conv_stem``, ``_blocks`` ...), a saved
SplitModel (``head.``/``tail.`` keys, natural or BottleFit student), optionally
wrapped (``{"model": ...}``, ``module.`` from DataParallel). All key renaming
happens in :func:`remap_state_dict`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .split_model import SplitModel

__all__ = ["WeightsReport", "WeightsSource", "load_weights", "read_state_dict", "remap_state_dict"]

logger = logging.getLogger(__name__)

WeightsSource = Union[str, "os.PathLike[str]", Mapping[str, Tensor]]

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_SPLIT_PREFIXES = ("head.", "tail.")
_CHECKPOINT_KEYS = ("state_dict", "model", "model_state_dict")
# Old DenseNet checkpoints name layers "norm.1" instead of "norm1"
# (torchvision models/densenet.py::_load_state_dict).
_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var))$")


@dataclass(frozen=True)
class WeightsReport:
    """What :func:`load_weights` did: keys loaded, left at initialisation, ignored."""

    loaded: tuple[str, ...]
    initialised: tuple[str, ...]
    ignored: tuple[str, ...]


def read_state_dict(source: WeightsSource) -> dict[str, Tensor]:
    """A state_dict from a path (``torch.load(weights_only=True)``) or a mapping.

    Unwraps ``{"state_dict" | "model" | "model_state_dict": ...}`` checkpoints.
    """
    if isinstance(source, Mapping):
        obj: object = source
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping):
        for key in _CHECKPOINT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{source!r} is not a state_dict (a mapping of names to tensors), "
                         f"nor a checkpoint holding one under {', '.join(_CHECKPOINT_KEYS)}")
    return dict(obj)


def remap_state_dict(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename keys to canonical form: the module path in the teacher, as this package names it.

    - drops wrapper prefixes ``module.`` (DataParallel) and ``_orig_mod.`` (torch.compile);
    - drops a SplitModel's ``head.`` / ``tail.``;
    - drops the leading underscore of the top-level name (``efficientnet_lite_pytorch``
      names ``_conv_stem``, ``_blocks``, ``_fc``; here ``conv_stem``, ``blocks``, ``fc``);
    - renames legacy DenseNet ``denselayerN.norm.1`` keys to ``norm1``.

    Idempotent; tensors are not copied.
    """
    out: dict[str, Tensor] = {}
    for original, value in state.items():
        key = original
        while key.startswith(_WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        if key.startswith(_SPLIT_PREFIXES):
            key = key.split(".", 1)[1]
        if key.startswith("_"):
            key = key[1:]
        match = _DENSENET_LEGACY.match(key)
        if match:
            key = match.group(1) + match.group(2)
        if key in out:
            raise ValueError(f"checkpoint keys collide after renaming: {original!r} -> {key!r}")
        out[key] = value
    return out


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _listing(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_weights(model: SplitModel, source: WeightsSource) -> WeightsReport:
    """Load a teacher or SplitModel checkpoint into ``model``; see the module docstring.

    Into a BottleFit student, a teacher checkpoint loads the kept teacher parts:
    the layers the bottleneck replaced are ignored and ``bottleneck.*`` stays as
    initialised. A checkpoint holding ``bottleneck.*`` keys is a student's and must
    match completely. A classifier of another size (``num_classes``) is ignored and
    left initialised. Anything else that does not fit raises ``ValueError``.
    """
    state = remap_state_dict(read_state_dict(source))
    own_state = model.state_dict()
    own = {key.split(".", 1)[1]: key for key in own_state}
    is_student = any(_under(k, ("bottleneck",)) for k in state)
    replaced = () if is_student else model.replaced_modules
    classifier = (model.classifier_path,)

    to_load: dict[str, Tensor] = {}
    ignored: list[str] = []
    unexpected: list[str] = []
    mismatched: list[str] = []
    for key, value in state.items():
        full = own.get(key)
        if full is None:
            (ignored if _under(key, replaced) else unexpected).append(key)
        elif value.shape != own_state[full].shape:
            if _under(key, classifier):
                ignored.append(key)
            else:
                mismatched.append(f"{key} {tuple(value.shape)} vs {tuple(own_state[full].shape)}")
        else:
            to_load[full] = value

    loaded = {full.split(".", 1)[1] for full in to_load}
    missing = [k for k in own if k not in loaded and not k.endswith("num_batches_tracked")]
    may_stay = ("bottleneck",) if not is_student else ()
    may_stay += classifier if any(_under(k, classifier) for k in ignored) else ()
    not_allowed = [k for k in missing if not _under(k, may_stay)]

    problems = []
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {_listing(mismatched)}")
    if not_allowed:
        problems.append(f"missing keys: {_listing(not_allowed)}")
    if problems:
        raise ValueError(f"checkpoint does not fit {model.info.model} "
                         f"(split {model.info.split!r}): " + "; ".join(problems))

    model.load_state_dict(to_load, strict=False)
    report = WeightsReport(loaded=tuple(sorted(loaded)), initialised=tuple(missing),
                           ignored=tuple(ignored))
    if report.initialised:
        logger.info("%s: %d tensors left as initialised (%s)", model.info.model,
                    len(report.initialised), _listing(list(report.initialised), 3))
    return report
