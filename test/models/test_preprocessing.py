from __future__ import annotations

import numpy as np
import pytest
import torch

from bottlefit_ros.models import Preprocessor, build_split_model


def test_output_shape_and_dtype() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    x = Preprocessor.for_model("resnet18")(rgb)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32 and x.is_contiguous()


def test_lite0_normalization_on_constant_images() -> None:
    pre = Preprocessor.for_model("efficientnet_lite0")
    assert pre.normalization == "tf"
    for value, expected in ((127, 0.0), (255, 1.0), (0, -127 / 128)):
        x = pre(np.full((300, 400, 3), value, dtype=np.uint8))
        assert torch.allclose(x, torch.full_like(x, expected)), value


def test_imagenet_normalization_per_channel() -> None:
    x = Preprocessor.for_model("densenet121", size=64)(np.full((64, 64, 3), 128, np.uint8))
    mean = torch.tensor([0.485, 0.456, 0.406]) * 255
    std = torch.tensor([0.229, 0.224, 0.225]) * 255
    assert torch.allclose(x[0, :, 0, 0], (128 - mean) / std)


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1)])
def test_grey_images_are_replicated(shape: tuple[int, ...]) -> None:
    grey = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    pre = Preprocessor(size=64, normalization="tf", crop_fraction=None)
    x = pre(grey)
    assert x.shape == (1, 3, 64, 64)
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 1], x[0, 2])
    batch = torch.from_numpy(grey.reshape(1, 1, 28, 28).copy())
    assert pre.normalize(batch).shape == (1, 3, 28, 28)


def test_center_crop_matches_resize_then_crop_geometry() -> None:
    pre = Preprocessor(size=224)
    assert pre.crop_window(480, 640) == (30, 450, 110, 530)  # 256/480 scale -> 420 px crop
    assert Preprocessor(size=224, crop_fraction=None).crop_window(480, 640) == (0, 480, 0, 640)


def test_preprocessor_from_split_uses_its_input_size() -> None:
    split = build_split_model("efficientnet_lite0", weights=None, input_size=96)
    pre = split.preprocessor
    assert pre.size == (96, 96) and pre.normalization == "tf"


def test_bad_inputs() -> None:
    pre = Preprocessor()
    with pytest.raises(TypeError, match="uint8"):
        pre(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="H x W x 3"):
        pre(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown normalization 'x'"):
        Preprocessor(normalization="x")
