"""ResNet teachers (torchvision), split naturally or with BottleFit's bottleneck.

BottleFit (Matsubara et al., WoWMoM 2022, arXiv 2201.02693) replaces
``conv1`` ... ``layer2`` by the bottleneck; the decoder reproduces ``layer2``'s
output (512 x 28 x 28 for ResNet-50/152, 128 x 28 x 28 for ResNet-18 at 224).
Head distillation compares ``layer2``, ``layer3`` and ``layer4``.
"""

from __future__ import annotations

from torch import nn

from .registry import register_spec
from .segment import Step
from .teacher import TeacherSpec, torchvision_teacher

__all__ = ["resnet152", "resnet18", "resnet50"]


def _steps(m: nn.Module) -> list[Step]:
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")
    return [*(Step(n, getattr(m, n)) for n in names), Step("flatten", nn.Flatten(1)),
            Step("fc", m.fc)]


def _spec(name: str) -> TeacherSpec:
    return TeacherSpec(
        name=name,
        make=torchvision_teacher(name),
        steps=_steps,
        stages=(("layer1", 4), ("layer2", 8), ("layer3", 16), ("layer4", 32)),
        bottleneck_stage="layer2",
        classifier="fc",
    )


_RESNET18 = _spec("resnet18")
_RESNET50 = _spec("resnet50")
_RESNET152 = _spec("resnet152")


resnet18 = register_spec(
    _RESNET18,
    'ResNet-18 (He et al., CVPR 2016). ``"default"`` weights: random '
    'initialisation.')
resnet50 = register_spec(
    _RESNET50,
    'ResNet-50 (He et al., CVPR 2016). ``"default"`` weights: random '
    'initialisation.')
resnet152 = register_spec(
    _RESNET152,
    "ResNet-152 (He et al., CVPR 2016), BottleFit's main ImageNet teacher. "
    '``"default"`` weights: random initialisation.')
