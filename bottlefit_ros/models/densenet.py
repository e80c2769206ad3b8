"""DenseNet teachers (torchvision), split naturally or with BottleFit's bottleneck.

BottleFit (Matsubara et al., WoWMoM 2022, arXiv 2201.02693) replaces
``features.conv0`` ... ``features.transition2`` by the bottleneck; the decoder
reproduces ``transition2``'s output, 256 x 14 x 14 at 224 for DenseNet-121/169/201
(the channel count is read from the built teacher). Head distillation compares
``features.transition2``, ``features.transition3`` and ``features.norm5``.
"""

from __future__ import annotations

from torch import nn

from .registry import register_spec
from .segment import Step
from .teacher import TeacherSpec, torchvision_teacher

__all__ = ["densenet121", "densenet169", "densenet201"]


def _steps(m: nn.Module) -> list[Step]:
    # torchvision: features -> relu -> adaptive_avg_pool2d(1) -> flatten -> classifier.
    features = [Step(f"features.{n}", child) for n, child in m.features.named_children()]
    return [*features, Step("relu", nn.ReLU()), Step("avgpool", nn.AdaptiveAvgPool2d(1)),
            Step("flatten", nn.Flatten(1)), Step("classifier", m.classifier)]


def _spec(name: str) -> TeacherSpec:
    return TeacherSpec(
        name=name,
        make=torchvision_teacher(name),
        steps=_steps,
        stages=(("features.denseblock1", 4), ("features.transition1", 8),
                ("features.transition2", 16), ("features.transition3", 32),
                ("features.norm5", 32)),
        bottleneck_stage="features.transition2",
        classifier="classifier",
    )


_DENSENET121 = _spec("densenet121")
_DENSENET169 = _spec("densenet169")
_DENSENET201 = _spec("densenet201")


densenet121 = register_spec(
    _DENSENET121,
    'DenseNet-121 (Huang et al., CVPR 2017). ``"default"`` weights: random '
    'initialisation.')
densenet169 = register_spec(
    _DENSENET169,
    'DenseNet-169 (Huang et al., CVPR 2017), a BottleFit teacher. ``"default"`` '
    'weights: random initialisation.')
densenet201 = register_spec(
    _DENSENET201,
    'DenseNet-201 (Huang et al., CVPR 2017), a BottleFit teacher. ``"default"`` '
    'weights: random initialisation.')
