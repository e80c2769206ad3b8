"""Camera image (uint8 RGB or grey) -> normalized input tensor: the torch face of
:class:`bottlefit_ros.preprocess.ImagePreprocessor`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..preprocess import NORMALIZATIONS, ImagePreprocessor

if TYPE_CHECKING:
    from .split_model import SplitModel

__all__ = ["NORMALIZATIONS", "Preprocessor"]


class Preprocessor(ImagePreprocessor):
    """:class:`ImagePreprocessor` returning a torch tensor (see there), and the
    model-aware constructor."""

    @classmethod
    def for_model(cls, model: str | SplitModel, *, size: int | Sequence[int] | None = None,
                  crop_fraction: float | None = 0.875) -> Preprocessor:
        """The preprocessor a registered model name or a SplitModel expects.

        ``size`` defaults to the model's ``info.input_size`` (224 x 224 for a name).
        """
        if isinstance(model, str):
            from .registry import get_model_normalization

            normalization, default_size = get_model_normalization(model), (224, 224)
        else:
            normalization, default_size = model.info.normalization, model.info.input_size
        return cls(size=size or default_size, normalization=normalization,
                   crop_fraction=crop_fraction)

    def __call__(self, image: np.ndarray) -> Tensor:  # type: ignore[override]
        """The normalized ``(1, 3, H, W)`` float32 tensor of ``image``."""
        out = torch.empty((1, 3, *self.size), dtype=torch.float32)
        super().__call__(image, out.numpy())
        return out

    def normalize(self, images: Tensor) -> Tensor:
        """Normalize an (N, C, H, W) batch in 0..255 units (uint8 or float), C = 1 or 3.

        For data already resized on the GPU (training): one channel broadcasts to three.
        """
        mean = torch.as_tensor(self.mean, device=images.device)
        inv_std = torch.as_tensor(self._inv_std, device=images.device)
        return (images.float() - mean) * inv_std
