"""Description of a teacher network: how to build it and where it may be split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .segment import Step

__all__ = ["TeacherSpec"]


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
