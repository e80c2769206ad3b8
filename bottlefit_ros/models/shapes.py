"""Output shapes of a run of layers, computed on the meta device (no arithmetic)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import torch
from torch.func import functional_call

from .segment import Step

__all__ = ["probe_shapes"]


def probe_shapes(steps: Sequence[Step], input_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """Per-sample output shape after each step for an input of ``input_shape`` (C, H, W).

    Every parameter and buffer is swapped for a meta tensor during the call, so
    this costs microseconds even for ResNet-152 and leaves the modules untouched.
    The probe batch holds two samples: batch norm in training mode refuses one
    value per channel, which a small input (e.g. 32 px) reaches in late stages.
    """
    x = torch.empty((2, *input_shape), device="meta")
    shapes: list[tuple[int, ...]] = []
    with torch.no_grad():
        for step in steps:
            module = step.module
            state = {name: torch.empty_like(t, device="meta")
                     for name, t in chain(module.named_parameters(), module.named_buffers())}
            x = functional_call(module, state, (x,), dict(step.kwargs))
            shapes.append(tuple(x.shape[1:]))
    return shapes
