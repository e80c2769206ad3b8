"""MobileNetV2 teacher (torchvision), split naturally or with BottleFit's bottleneck.

BottleFit (Matsubara et al., WoWMoM 2022, arXiv 2201.02693) does not configure
MobileNetV2; here the bottleneck replaces ``features.0`` ... ``features.6``, the end
of the stride-8 stage (32 x 28 x 28 at 224), the same depth as ResNet's ``layer2``,
so the stride-8 decoder applies. ``features.7`` is the first block of the stride-16
stage (64 x 14 x 14). Head distillation compares ``features.6``, ``features.13`` and
``features.18``.
"""

from __future__ import annotations

from torch import nn

from .registry import register_spec
from .segment import Step
from .teacher import TeacherSpec, torchvision_teacher

__all__ = ["mobilenet_v2"]


def _steps(m: nn.Module) -> list[Step]:
    # torchvision: features -> adaptive_avg_pool2d(1) -> flatten -> classifier.
    features = [Step(f"features.{n}", child) for n, child in m.features.named_children()]
    return [*features, Step("avgpool", nn.AdaptiveAvgPool2d(1)), Step("flatten", nn.Flatten(1)),
            Step("classifier", m.classifier)]


_MOBILENET_V2 = TeacherSpec(
    name="mobilenet_v2",
    make=torchvision_teacher("mobilenet_v2"),
    steps=_steps,
    stages=(("features.1", 2), ("features.3", 4), ("features.6", 8), ("features.13", 16),
            ("features.18", 32)),
    bottleneck_stage="features.6",
    classifier="classifier.1",
)


mobilenet_v2 = register_spec(
    _MOBILENET_V2,
    'MobileNetV2 (Sandler et al., CVPR 2018). ``"default"`` weights: random '
    'initialisation.')
