"""The packaged EfficientNet-Lite0 BottleFit student: found, loaded, only its bottleneck new."""

from __future__ import annotations

import pytest
import torch

from bottlefit_ros.models import build_split_model, packaged_student


@pytest.fixture(scope="module")
def packaged():
    p = packaged_student("efficientnet_lite0", 12)
    if p is None:
        pytest.skip("no packaged EfficientNet-Lite0 student")
    return p


def test_default_weights_load_the_packaged_bottleneck(packaged) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    student = build_split_model("efficientnet_lite0", bottleneck_channels=12)
    teacher = build_split_model("efficientnet_lite0")
    assert student.tail.bottleneck.decoder[2].out_channels == packaged.decoder_channels
    assert torch.equal(student.tail.blocks[10]._expand_conv.weight,
                       teacher.tail.blocks[10]._expand_conv.weight)
    fresh = build_split_model("efficientnet_lite0", bottleneck_channels=12,
                              decoder_channels=packaged.decoder_channels, weights=None)
    w = student.head.bottleneck.encoder[0].weight
    assert not torch.equal(w, fresh.head.bottleneck.encoder[0].weight)
    assert w.dtype == torch.float32
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert student.encode(x).shape == (1, 12, 29, 29)
        assert torch.isfinite(student(x)).all()


def test_other_widths_are_not_packaged() -> None:
    assert packaged_student("efficientnet_lite0", 5) is None
    assert packaged_student("resnet18", 12) is None


def test_a_student_checkpoint_sets_the_decoder_width() -> None:
    s = build_split_model("resnet18", bottleneck_channels=2, decoder_channels=24, weights=None,
                          num_classes=10, input_size=64)
    again = build_split_model("resnet18", bottleneck_channels=2, weights=s.state_dict(),
                              input_size=64)
    assert again.tail.bottleneck.decoder[2].out_channels == 24
    with pytest.raises(ValueError, match="decoder_channels must be a positive int"):
        build_split_model("resnet18", bottleneck_channels=2, decoder_channels=0, weights=None)
