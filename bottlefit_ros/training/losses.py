"""BottleFit's losses (Matsubara et al., WoWMoM 2022, arXiv 2201.02693).

- Head distillation (stage 1, label-free): the sum, over the split point and every
  later stage, of the squared error between student and teacher outputs
  (``MSELoss(reduction="sum")`` in the authors' configurations).
- Knowledge distillation (stage 2): ``alpha * CE(student, y) + (1 - alpha) * T^2 *
  KL(teacher || student)`` at temperature ``T`` (Hinton et al. 2015); ``alpha = 0``
  needs no labels.

Losses are computed in float32 whatever autocast produced.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["feature_distillation_loss", "kd_loss"]


def feature_distillation_loss(student: Mapping[str, Tensor], teacher: Mapping[str, Tensor],
                              reduction: str = "sum") -> Tensor:
    """Sum over the teacher's stage names of ``mse_loss(student[k], teacher[k])``."""
    missing = [k for k in teacher if k not in student]
    if missing:
        raise ValueError(f"student outputs lack stage(s) {missing}")
    losses = [F.mse_loss(student[k].float(), teacher[k].float(), reduction=reduction)
              for k in teacher]
    return torch.stack(losses).sum()


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor | None, *,
            alpha: float = 0.5, temperature: float = 1.0, label_smoothing: float = 0.0) -> Tensor:
    """``alpha * CE + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))``, batch mean."""
    s, t = student_logits.float(), teacher_logits.float()
    soft = F.kl_div(F.log_softmax(s / temperature, dim=1), F.log_softmax(t / temperature, dim=1),
                    reduction="batchmean", log_target=True) * temperature ** 2
    if alpha == 0.0:
        return soft
    if labels is None:
        raise ValueError("kd_alpha > 0 needs labels; use kd_alpha: 0 on label-free data")
    hard = F.cross_entropy(s, labels, label_smoothing=label_smoothing)
    return alpha * hard + (1.0 - alpha) * soft
