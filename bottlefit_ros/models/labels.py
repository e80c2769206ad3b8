"""Class names for a model's outputs.

``data/imagenet_classes.txt`` (one name per line, index order) was generated once,
from the repository root, with torchvision 0.29.1::

    python -c "from torchvision.models._meta import _IMAGENET_CATEGORIES as c; \\
        open('bottlefit_ros/models/data/imagenet_classes.txt', 'w').write('\\n'.join(c) + '\\n')"

It lives inside the package, so CMake's ``install(DIRECTORY bottlefit_ros/)``
installs it; it is read on first use, not at import.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .split_model import SplitModel

__all__ = ["FASHION_MNIST_CLASSES", "load_labels"]

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_IMAGENET_NAMES = ("imagenet", "imagenet1k", "imagenet-1k")
_FASHION_NAMES = ("fashion_mnist", "fashion-mnist", "fashionmnist")


@lru_cache(maxsize=1)
def _imagenet() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("data", "imagenet_classes.txt").read_text("utf-8")
    names = tuple(text.splitlines())
    if len(names) != 1000:
        raise RuntimeError(f"imagenet_classes.txt holds {len(names)} names, expected 1000")
    return names


def _for_count(num_classes: int) -> list[str]:
    if num_classes == 1000:
        return list(_imagenet())
    if num_classes == len(FASHION_MNIST_CLASSES):
        return list(FASHION_MNIST_CLASSES)
    return [f"class_{i}" for i in range(num_classes)]


def load_labels(source: Union[str, "os.PathLike[str]", int, SplitModel]) -> list[str]:
    """Class names, index order.

    ``source``: ``"imagenet"`` or ``"fashion_mnist"``; a text file (one name per
    line); a registered model name (its default 1000-way ImageNet head); a
    SplitModel or a class count: 1000 -> ImageNet-1k, 10 -> Fashion-MNIST (the
    10-class dataset this project trains on), otherwise ``class_<i>``.
    """
    if isinstance(source, bool):
        raise TypeError("source must be a name, path, class count or SplitModel")
    if isinstance(source, int):
        return _for_count(source)
    if isinstance(source, (str, os.PathLike)):
        key = os.fspath(source)
        if key.lower() in _IMAGENET_NAMES:
            return list(_imagenet())
        if key.lower() in _FASHION_NAMES:
            return list(FASHION_MNIST_CLASSES)
        if Path(key).is_file():
            return Path(key).read_text("utf-8").splitlines()
        from .registry import list_models

        if key in list_models():
            return list(_imagenet())
        raise ValueError(f"no labels for {key!r}: expected imagenet, fashion_mnist, a labels "
                         f"file or one of {', '.join(list_models())}")
    return _for_count(source.info.num_classes)
