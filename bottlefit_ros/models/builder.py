"""Assemble a SplitModel (natural split or BottleFit student) from a TeacherSpec."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Union

from torch import Tensor, nn

from .bottleneck import (ENCODERS, LIGHT_ENCODER_WIDTH, bottleneck_decoder, bottleneck_encoder,
                         light_decoder, light_encoder)
from .checkpoint import read_state_dict, remap_state_dict
from .packaged import load_packaged_student, packaged_student
from .segment import Segment, Step
from .shapes import probe_shapes
from .split_model import SplitInfo, SplitModel, StageInfo
from .teacher import TeacherSpec

__all__ = ["BOTTLENECK_SPLIT", "InputSize", "Weights", "build_from_spec"]

logger = logging.getLogger(__name__)

BOTTLENECK_SPLIT = "bottleneck"
Weights = Union[str, "os.PathLike[str]", Mapping[str, Tensor], None]
InputSize = Union[int, tuple[int, int]]


def _input_size(size: InputSize) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"input_size must be a positive int or (H, W), got {size!r}")
    return pair  # type: ignore[return-value]


def _resolve_weights(spec: TeacherSpec, weights: Weights) -> dict[str, Tensor] | None:
    if weights is None:
        return None
    if isinstance(weights, str) and weights.lower() == "default":
        path = spec.default_weights() if spec.default_weights else None
        if path is None:
            logger.info("%s: no packaged weights, random initialisation", spec.name)
            return None
        weights = path
    return remap_state_dict(read_state_dict(weights))


def _resolve_split(spec: TeacherSpec, paths: list[str], split: str | None,
                   bottleneck_channels: int | None) -> str:
    if bottleneck_channels is not None:
        if isinstance(bottleneck_channels, bool) or not isinstance(bottleneck_channels, int) \
                or bottleneck_channels < 1:
            raise ValueError(f"bottleneck_channels must be a positive int, "
                             f"got {bottleneck_channels!r}")
        if split not in (None, BOTTLENECK_SPLIT):
            raise ValueError(f"with bottleneck_channels the split is {BOTTLENECK_SPLIT!r} "
                             f"(replacing {spec.name} up to {spec.bottleneck_stage}), "
                             f"got {split!r}")
        return BOTTLENECK_SPLIT
    if split is None:
        return spec.bottleneck_stage
    if split == BOTTLENECK_SPLIT:
        raise ValueError(f"split={BOTTLENECK_SPLIT!r} needs bottleneck_channels")
    if split not in paths[:-1]:
        raise ValueError(f"unknown split {split!r} for {spec.name}; valid natural splits: "
                         f"{', '.join(paths[:-1])}; or bottleneck_channels=C for "
                         f"{BOTTLENECK_SPLIT!r}")
    return split


def _downsample(spec: TeacherSpec, reductions: dict[str, int], kept: int,
                paths: list[str]) -> int:
    """Stride-2 steps from the light head's kept teacher layers to the bottleneck stage."""
    kept_reduction = dict(reductions).get(paths[kept])
    if kept_reduction is None:
        raise ValueError(f"{spec.name}: light_prefix {paths[kept]!r} is not a stage end")
    ratio = reductions[spec.bottleneck_stage] // kept_reduction
    if ratio < 2 or ratio & (ratio - 1):
        raise ValueError(f"{spec.name}: light_prefix {paths[kept]!r} must end at a power-of-two "
                         f"fraction of {spec.bottleneck_stage}'s stride")
    return ratio.bit_length() - 1


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Per encoder family: the checkpoint key whose first dimension is the decoder's hidden
# width, and the width used when neither the caller nor a checkpoint gives one.
_DECODER_WIDTH_KEY = {"bottlefit": "bottleneck.decoder.2.weight",
                      "light": "bottleneck.decoder.0.weight"}
_DEFAULT_DECODER_WIDTH = {"bottlefit": 512, "light": 192}


def _encoder_family(spec: TeacherSpec, bottleneck_channels: int | None, encoder: str | None,
                    weights: Weights, state: Mapping[str, Tensor] | None) -> str | None:
    """The bottleneck's encoder family: given, else the packaged student's (``"default"``
    weights), else the student checkpoint's, else the authors' (``"bottlefit"``)."""
    if encoder is not None:
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; encoders: {', '.join(ENCODERS)}")
        if bottleneck_channels is None:
            raise ValueError("encoder applies to a bottleneck model: give bottleneck_channels")
        if encoder == "light" and spec.light_prefix is None:
            raise ValueError(f"{spec.name} has no light encoder (no light_prefix); "
                             f"use encoder='bottlefit'")
        return encoder
    if bottleneck_channels is None:
        return None
    if _is_default(weights):
        packaged = packaged_student(spec.name, bottleneck_channels)
        if packaged is not None:
            return packaged.encoder
    first = state.get("bottleneck.encoder.0.weight") if state else None
    if first is not None and first.dim() == 4 and first.shape[1] != 3:
        return "light"  # the authors' encoder starts from the RGB image, light from features
    return "bottlefit"


# The light encoder's first pointwise convolution: its output channels are the width.
_ENCODER_WIDTH_KEY = "bottleneck.encoder.2.weight"


def _encoder_width(encoder_width: int | None, state: Mapping[str, Tensor] | None) -> int:
    """The light encoder's inner width: given, else the checkpoint's, else the default."""
    if encoder_width is not None:
        if isinstance(encoder_width, bool) or not isinstance(encoder_width, int) \
                or encoder_width < 1:
            raise ValueError(f"encoder_width must be a positive int, got {encoder_width!r}")
        return encoder_width
    pointwise = state.get(_ENCODER_WIDTH_KEY) if state else None
    return int(pointwise.shape[0]) if pointwise is not None else LIGHT_ENCODER_WIDTH


def _decoder_channels(spec: TeacherSpec, bottleneck_channels: int | None, encoder: str | None,
                      decoder_channels: int | None, weights: Weights,
                      state: Mapping[str, Tensor] | None) -> int:
    """The decoder's hidden width: given, else the packaged student's or the checkpoint's,
    else the family's default (512, the authors'; 192 for ``light``)."""
    if decoder_channels is not None:
        if isinstance(decoder_channels, bool) or not isinstance(decoder_channels, int) \
                or decoder_channels < 1:
            raise ValueError(f"decoder_channels must be a positive int, got {decoder_channels!r}")
        return decoder_channels
    family = encoder or "bottlefit"
    if bottleneck_channels is not None and _is_default(weights):
        packaged = packaged_student(spec.name, bottleneck_channels)
        if packaged is not None and packaged.encoder == family:
            return packaged.decoder_channels
    hidden = state.get(_DECODER_WIDTH_KEY[family]) if state else None
    return int(hidden.shape[0]) if hidden is not None else _DEFAULT_DECODER_WIDTH[family]


def _is_default(weights: Weights) -> bool:
    return isinstance(weights, str) and weights.lower() == "default"


def build_from_spec(spec: TeacherSpec, *, split: str | None = None,
                    bottleneck_channels: int | None = None, weights: Weights = "default",
                    num_classes: int | None = None, input_size: InputSize = (224, 224),
                    decoder_channels: int | None = None, encoder: str | None = None,
                    encoder_width: int | None = None) -> SplitModel:
    """Build ``spec``'s teacher, cut it (or inject a bottleneck) and load ``weights``.

    ``num_classes=None`` takes the classifier size from the checkpoint, else 1000.
    ``encoder=None``: the packaged student's family (``weights="default"``), else the
    student checkpoint's, else ``"bottlefit"`` (the authors'). ``decoder_channels=None``:
    the packaged student's width, else the student checkpoint's, else the family's
    default. ``encoder_width=None``: the light encoder's inner width from the student
    checkpoint, else :data:`LIGHT_ENCODER_WIDTH` (the packaged students').
    """
    size = _input_size(input_size)
    state = _resolve_weights(spec, weights)
    if num_classes is None:
        classifier_weight = state.get(f"{spec.classifier}.weight") if state else None
        num_classes = int(classifier_weight.shape[0]) if classifier_weight is not None else 1000
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")

    teacher = spec.make(num_classes)
    steps = spec.steps(teacher)
    paths = [s.path for s in steps]
    split_name = _resolve_split(spec, paths, split, bottleneck_channels)
    family = _encoder_family(spec, bottleneck_channels, encoder, weights, state)
    hidden = _decoder_channels(spec, bottleneck_channels, family, decoder_channels, weights, state)
    if encoder_width is not None and family != "light":
        raise ValueError(f"encoder_width applies to the light encoder, not {family!r}")
    width = _encoder_width(encoder_width, state)
    teacher_shapes = probe_shapes(steps, (3, *size))
    cut = paths.index(spec.bottleneck_stage if split_name == BOTTLENECK_SPLIT else split_name)
    reductions = dict(spec.stages)

    stages = [StageInfo(name=p, module=p, channels=teacher_shapes[paths.index(p)][0], reduction=r)
              for p, r in spec.stages if paths.index(p) >= cut]
    if split_name == BOTTLENECK_SPLIT:
        assert bottleneck_channels is not None
        target = teacher_shapes[cut]
        if family == "light":
            kept = paths.index(spec.light_prefix)  # type: ignore[arg-type]
            encoder_module = light_encoder(teacher_shapes[kept][0], bottleneck_channels,
                                           downsample=_downsample(spec, reductions, kept, paths),
                                           width=width)
            decoder_module = light_decoder(bottleneck_channels, target[0], hidden_channels=hidden)
        else:
            kept = -1
            encoder_module = bottleneck_encoder(bottleneck_channels)
            decoder_module = bottleneck_decoder(bottleneck_channels, target[0],
                                                reduction=reductions[spec.bottleneck_stage],
                                                hidden_channels=hidden)
        head_steps = [*steps[:kept + 1], Step("bottleneck.encoder", encoder_module)]
        tail_steps = [Step("bottleneck.decoder", decoder_module), *steps[cut + 1:]]
        decoded = probe_shapes([*head_steps, tail_steps[0]], (3, *size))
        if decoded[-1] != target:
            raise ValueError(f"input_size {size}: the decoder gives {decoded[-1]} but "
                             f"{spec.name}.{spec.bottleneck_stage} gives {target}; use sides "
                             f"divisible by 32")
        head_shape = decoded[-2]
        stages[0] = StageInfo(name=stages[0].name, module="bottleneck.decoder",
                              channels=stages[0].channels, reduction=stages[0].reduction)
        replaced = tuple(paths[kept + 1:cut + 1])
        replaces: str | None = spec.bottleneck_stage
    else:
        head_steps, tail_steps = steps[:cut + 1], steps[cut + 1:]
        head_shape = teacher_shapes[cut]
        replaced, replaces = (), None

    head, tail = Segment(head_steps), Segment(tail_steps)
    info = SplitInfo(model=spec.name, split=split_name,
                     kind="bottleneck" if split_name == BOTTLENECK_SPLIT else "natural",
                     bottleneck_channels=bottleneck_channels, input_size=size,
                     head_output_shape=head_shape,  # type: ignore[arg-type]
                     head_params=_params(head), tail_params=_params(tail),
                     num_classes=num_classes, replaces=replaces,
                     normalization=spec.normalization, encoder=family)
    model = SplitModel(head, tail, info, stages, replaced_modules=replaced,
                       classifier_path=spec.classifier)
    if state is not None:
        model.load_weights(state)
    if split_name == BOTTLENECK_SPLIT and _is_default(weights):
        packaged = packaged_student(spec.name, bottleneck_channels)  # type: ignore[arg-type]
        if packaged is not None and packaged.decoder_channels == hidden \
                and packaged.encoder == family \
                and (family != "light" or width == LIGHT_ENCODER_WIDTH):
            load_packaged_student(model, packaged)
    return model.eval()
