from __future__ import annotations

from pathlib import Path

import pytest

import bottlefit_ros.models as models
from bottlefit_ros.models import build_split_model, load_labels


def test_imagenet_labels_ship_inside_the_package() -> None:
    path = Path(models.__file__).parent / "data" / "imagenet_classes.txt"
    assert path.is_file()
    labels = load_labels("efficientnet_lite0")
    assert len(labels) == 1000 and labels[0] == "tench" and labels[281] == "tabby"
    assert labels[967] == "espresso"
    assert load_labels("imagenet") == labels == load_labels(1000)


def test_fashion_mnist_and_generic_labels(tmp_path) -> None:
    split = build_split_model("resnet18", weights=None, num_classes=10, input_size=64)
    assert load_labels(split)[0] == "T-shirt/top"
    assert load_labels("fashion_mnist")[-1] == "Ankle boot"
    assert load_labels(3) == ["class_0", "class_1", "class_2"]
    names = tmp_path / "names.txt"
    names.write_text("a\nb\n")
    assert load_labels(names) == ["a", "b"]
    with pytest.raises(ValueError, match="no labels for 'cifar'"):
        load_labels("cifar")
