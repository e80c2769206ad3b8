from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bottlefit_ros.models import build_split_model, list_models, register_model


def test_registry_lists_every_teacher() -> None:
    assert set(list_models()) == {
        "resnet18", "resnet50", "resnet152", "densenet121", "densenet169", "densenet201",
        "mobilenet_v2", "efficientnet_lite0", "efficientnet_lite2"}


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered under the name 'resnet18'"):
        register_model("resnet18")(lambda **kwargs: None)


def test_unknown_model_names_the_registered_ones() -> None:
    with pytest.raises(ValueError,
                       match=r"unknown model 'resnet999'; registered models: .*resnet18"):
        build_split_model("resnet999")


def test_unknown_split_names_the_valid_layers() -> None:
    with pytest.raises(ValueError, match=r"unknown split 'layer9' for resnet18; valid natural "
                                         r"splits: conv1, .*layer2, .*avgpool, flatten;"):
        build_split_model("resnet18", split="layer9", weights=None)


def test_classifier_is_not_a_split_point() -> None:
    with pytest.raises(ValueError, match="unknown split 'fc'"):
        build_split_model("resnet18", split="fc", weights=None)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"split": "bottleneck"}, "needs bottleneck_channels"),
    ({"split": "layer3", "bottleneck_channels": 3}, "the split is 'bottleneck'"),
    ({"bottleneck_channels": 0}, "positive int"),
    ({"input_size": (0, 64)}, "input_size"),
])
def test_bad_options_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_split_model("resnet18", weights=None, **kwargs)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        build_split_model("resnet18", "layer2")  # type: ignore[misc]


def test_the_default_model_builds_without_torchvision_or_dynamo() -> None:
    # torchvision (~2 s) and the meta device's sympy and TorchDynamo (~1.8 s) were paid
    # at every torch-backend node's start-up; the packaged EfficientNet-Lite0 needs
    # neither, so only the torchvision teachers import torchvision.
    code = ("import sys\n"
            "from bottlefit_ros.models import build_split_model\n"
            "build_split_model('efficientnet_lite0', bottleneck_channels=8)\n"
            "loaded = {'torchvision', 'torch._dynamo', 'sympy'} & set(sys.modules)\n"
            "assert not loaded, f'building Lite0 imported {sorted(loaded)}'\n"
            "build_split_model('mobilenet_v2', weights=None)\n"
            "assert 'torchvision' in sys.modules\n")
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
