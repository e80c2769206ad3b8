"""Camera image (uint8 RGB or grey) -> normalized input array, with NumPy and OpenCV.

Torch-free, so a robot running ONNX Runtime needs no PyTorch; the torch
:class:`bottlefit_ros.models.Preprocessor` is this class returning a tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["NORMALIZATIONS", "ImagePreprocessor"]

NORMALIZATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # torchvision ImageNet mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225), x 255.
    "imagenet": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    # TF-style (x - 127) / 128, what the EfficientNet-Lite weights were trained with.
    "tf": ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
}


class ImagePreprocessor:
    """``__call__(image) -> ndarray (1, 3, H, W) float32``, normalized per channel.

    ``image`` is uint8 H x W x 3 in RGB order, or grey H x W / H x W x 1 (replicated to
    3 channels). With ``crop_fraction=f`` (default 0.875) the result equals resizing
    the shorter side to ``size / f`` and cropping the centre ``size`` (torchvision's
    256 -> 224 evaluation; the EfficientNet-Lite reference uses the same); it is
    computed by cropping first, so only the crop is resampled. ``crop_fraction=None``
    resizes the whole image to ``size`` (aspect ratio not kept). Resampling is
    ``INTER_AREA`` when shrinking and ``INTER_LINEAR`` when enlarging.
    ``mean``/``std`` are in 0..255 units. Per call, only the resampled crop and the
    returned tensor are allocated; instances are stateless and thread-safe.
    """

    def __init__(self, *, size: int | Sequence[int] = (224, 224),
                 normalization: str = "imagenet", crop_fraction: float | None = 0.875) -> None:
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        if height < 1 or width < 1:
            raise ValueError(f"size must be positive, got {size!r}")
        if crop_fraction is not None and not 0.0 < crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction must be in (0, 1] or None, got {crop_fraction}")
        try:
            mean, std = NORMALIZATIONS[normalization]
        except KeyError:
            raise ValueError(f"unknown normalization {normalization!r}; "
                             f"known: {', '.join(NORMALIZATIONS)}") from None
        self.size: tuple[int, int] = (int(height), int(width))
        self.normalization = normalization
        self.crop_fraction = crop_fraction
        self.mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
        self._inv_std = (1.0 / self.std).astype(np.float32)

    def crop_window(self, height: int, width: int) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)`` of the source region that becomes the output."""
        if self.crop_fraction is None:
            return 0, height, 0, width
        out_h, out_w = self.size
        scale = max(out_h / height, out_w / width) / self.crop_fraction
        crop_h = min(height, max(1, round(out_h / scale)))
        crop_w = min(width, max(1, round(out_w / scale)))
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        return top, top + crop_h, left, left + crop_w

    def __call__(self, image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The normalized ``(1, 3, H, W)`` float32 array of ``image`` (into ``out`` if given)."""
        import cv2  # here, not at import: training machines may lack OpenCV

        if image.dtype != np.uint8:
            raise TypeError(f"expected a uint8 image, got {image.dtype}")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"expected H x W x 3, H x W x 1 or H x W, got shape {image.shape}")
        top, bottom, left, right = self.crop_window(image.shape[0], image.shape[1])
        crop = image[top:bottom, left:right]
        out_h, out_w = self.size
        if crop.shape[:2] != (out_h, out_w):
            shrinking = crop.shape[0] * crop.shape[1] > out_h * out_w
            if any(s < 0 for s in crop.strides):
                crop = np.ascontiguousarray(crop)
            crop = cv2.resize(crop, (out_w, out_h),
                              interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        chw = crop[np.newaxis] if crop.ndim == 2 else crop.transpose(2, 0, 1)
        if out is None:
            out = np.empty((1, 3, out_h, out_w), dtype=np.float32)
        values = out[0]
        np.subtract(chw, self.mean, out=values)
        np.multiply(values, self._inv_std, out=values)
        return out
