"""Description of a teacher network: how to build it and where it may be split."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .segment import Step

__all__ = ["TeacherSpec", "torchvision_teacher"]


@dataclass(frozen=True)
class TeacherSpec:
    """Everything the generic builder needs to know about one teacher.

    ``steps(teacher)`` lists the layers of the teacher's forward pass in order
    (running them one after the other equals ``teacher(x)``); their paths are the
    valid natural split points (all but the last). ``stages`` are stage ends as
    ``(path, reduction)``, timm ``feature_info`` style. ``bottleneck_stage`` is the
    stage the BottleFit bottleneck replaces (everything up to and including it),
    and the default natural split. ``light_prefix`` is the last teacher step a
    ``light`` head keeps (frozen, exact) before its learned encoder; ``None``: the
    teacher offers only the authors' encoder.
    """

    name: str
    make: Callable[[int], nn.Module]
    steps: Callable[[nn.Module], list[Step]]
    stages: tuple[tuple[str, int], ...]
    bottleneck_stage: str
    classifier: str
    normalization: str = "imagenet"
    default_weights: Callable[[], str | None] | None = None
    light_prefix: str | None = None


def torchvision_teacher(builder: str) -> Callable[[int], nn.Module]:
    """``make`` for a torchvision classifier named ``builder`` (``"resnet50"``), with
    random weights; torchvision is imported when the first one is built, not when the
    registry is: importing it costs about 2 s, which every node started on the packaged
    EfficientNet-Lite0 (no torchvision in it) paid at start-up."""

    def make(num_classes: int) -> nn.Module:
        models = importlib.import_module("torchvision.models")
        return getattr(models, builder)(weights=None, num_classes=num_classes)

    return make
