"""Shared helpers for the models tests: stock (unsplit) teachers to compare against."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn


def _lite0(num_classes: int = 1000) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes)


def _lite2(num_classes: int = 1000) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    # padding for 224 x 224, as the registry builds it (the package's Lite2 default is 260)
    return EfficientNet.from_name("efficientnet-lite2", num_classes=num_classes, image_size=224)


STOCK: dict[str, Callable[..., nn.Module]] = {
    "resnet18": torchvision.models.resnet18,
    "resnet50": torchvision.models.resnet50,
    "resnet152": torchvision.models.resnet152,
    "densenet121": torchvision.models.densenet121,
    "densenet169": torchvision.models.densenet169,
    "densenet201": torchvision.models.densenet201,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "efficientnet_lite0": _lite0,
    "efficientnet_lite2": _lite2,
}


def _make_stock(name: str, num_classes: int = 1000) -> nn.Module:
    if name.startswith("efficientnet_lite"):
        return STOCK[name](num_classes)
    return STOCK[name](weights=None, num_classes=num_classes)


@pytest.fixture
def make_stock() -> Callable[..., nn.Module]:
    """``make_stock(name, num_classes=1000)``: the unsplit teacher with random weights,
    as its own library builds it (test modules cannot import conftest in importlib mode)."""
    return _make_stock


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
