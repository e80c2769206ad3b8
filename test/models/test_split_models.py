"""Every registered model, split naturally and with a bottleneck (timm test_models.py style)."""

from __future__ import annotations

import pytest
import torch

from bottlefit_ros.models import (SplitModel, build_split_model, build_teacher, list_models,
                                  stage_outputs)

SIZE = 64  # small inputs keep the whole registry fast on 2 cores
OTHER_SPLIT = {  # a non-default natural split per family
    "resnet18": "layer3", "resnet50": "layer1", "resnet152": "maxpool",
    "densenet121": "features.denseblock2", "densenet169": "features.transition3",
    "densenet201": "features.pool0", "mobilenet_v2": "features.7",
    "efficientnet_lite0": "blocks.5", "efficientnet_lite2": "blocks.10",
}


def _check_shapes(split: SplitModel, x: torch.Tensor, num_classes: int) -> None:
    with torch.no_grad():
        z = split.encode(x)
        logits = split.decode(z)
    assert tuple(z.shape[1:]) == split.info.head_output_shape
    assert logits.shape == (x.shape[0], num_classes)


@pytest.mark.parametrize("name", list_models())
def test_natural_default_split_equals_unsplit_teacher(name: str, make_stock) -> None:
    stock = make_stock(name).eval()
    split = build_split_model(name, weights=stock.state_dict(), input_size=SIZE)
    assert split.info.kind == "natural" and split.info.split == split.stages[0].name
    assert not split.training
    x = torch.randn(2, 3, SIZE, SIZE)
    _check_shapes(split, x, 1000)
    with torch.no_grad():
        assert torch.allclose(split.decode(split.encode(x)), stock(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", list_models())
def test_other_natural_split_equals_unsplit_teacher(name: str, make_stock) -> None:
    stock = make_stock(name, num_classes=10).eval()
    split = build_split_model(name, split=OTHER_SPLIT[name], weights=stock.state_dict(),
                              input_size=SIZE)
    assert split.info.split == OTHER_SPLIT[name] and split.info.num_classes == 10
    x = torch.randn(1, 3, SIZE, SIZE)
    _check_shapes(split, x, 10)
    with torch.no_grad():
        assert torch.allclose(split(x), stock(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", list_models())
def test_bottleneck_student_matches_its_teacher_stages(name: str) -> None:
    student = build_split_model(name, bottleneck_channels=3, weights=None, num_classes=10,
                                input_size=SIZE)
    info = student.info
    assert (info.kind, info.split, info.bottleneck_channels) == ("bottleneck", "bottleneck", 3)
    assert info.head_output_shape == (3, SIZE // 8 + 1, SIZE // 8 + 1)
    assert info.head_params < 15_000 and info.tail_params > 100 * info.head_params
    x = torch.randn(2, 3, SIZE, SIZE)
    _check_shapes(student, x, 10)

    teacher = build_teacher(student, weights=None)
    assert teacher.info.split == info.replaces and teacher.info.num_classes == 10
    assert [s.name for s in student.stages] == [s.name for s in teacher.stages]
    assert student.stages[0].module == "bottleneck.decoder"
    with torch.no_grad():
        s_out, t_out = stage_outputs(student, x), stage_outputs(teacher, x)
    assert list(s_out) == list(t_out) == [s.name for s in teacher.stages]
    for stage in teacher.stages:
        assert s_out[stage.name].shape == t_out[stage.name].shape
        assert t_out[stage.name].shape[1] == stage.channels
        assert t_out[stage.name].shape[2] == SIZE // stage.reduction


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
@pytest.mark.parametrize("size", [96, 112, 224])
def test_decoder_reproduces_the_replaced_output_size(name: str, size: int) -> None:
    # Built on shapes only (meta device): the builder refuses a decoder/teacher mismatch.
    student = build_split_model(name, bottleneck_channels=12, weights=None, input_size=size)
    assert student.info.head_output_shape == (12, size // 8 + 1, size // 8 + 1)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_small_inputs_build_in_training_mode(name: str) -> None:
    # At 32 px the last stages are 1x1: shape probing must not trip batch norm's
    # one-value-per-channel check, which training mode applies.
    student = build_split_model(name, bottleneck_channels=4, weights=None, input_size=32,
                                num_classes=10).train()
    x = torch.randn(4, 3, 32, 32)
    assert student.decode(student.encode(x)).shape == (4, 10)


def test_decoder_size_mismatch_is_reported() -> None:
    with pytest.raises(ValueError, match="divisible by 32"):
        build_split_model("resnet18", bottleneck_channels=12, weights=None, input_size=100)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_bottleneck_at_224_sends_c_x_29_x_29(name: str) -> None:
    split = build_split_model(name, bottleneck_channels=12, weights=None)
    assert split.info.head_output_shape == (12, 29, 29)
    with torch.no_grad():
        z = split.encode(torch.randn(1, 3, 224, 224))
    assert z.shape == (1, 12, 29, 29)
    expected = {"resnet18": (128, 28, 28), "efficientnet_lite0": (40, 28, 28)}[name]
    assert (split.stages[0].channels, 224 // split.stages[0].reduction,
            224 // split.stages[0].reduction) == expected


def test_natural_head_output_shapes_at_224() -> None:
    expected = {"resnet18": (128, 28, 28), "resnet152": (512, 28, 28),
                "densenet169": (256, 14, 14), "mobilenet_v2": (32, 28, 28),
                "efficientnet_lite0": (40, 28, 28)}
    for name, shape in expected.items():
        assert build_split_model(name, weights=None).info.head_output_shape == shape, name


def test_lite0_training_mode_keeps_index_dependent_drop_connect(make_stock) -> None:
    stock = make_stock("efficientnet_lite0")
    split = build_split_model("efficientnet_lite0", split="blocks.7",
                              weights=stock.state_dict(), input_size=SIZE).train()
    stock.train()
    x = torch.randn(4, 3, SIZE, SIZE)
    torch.manual_seed(1)
    expected = stock(x)
    torch.manual_seed(1)
    actual = split(x)
    assert torch.allclose(actual, expected, atol=1e-5, rtol=1e-4)
    torch.manual_seed(2)
    assert not torch.allclose(split(x), expected)  # drop connect is active in training


def test_stage_outputs_subset_and_unknown_name() -> None:
    split = build_split_model("resnet18", weights=None, input_size=SIZE)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        out = stage_outputs(split, x, ["layer3"])
    assert list(out) == ["layer3"] and out["layer3"].shape == (1, 256, SIZE // 16, SIZE // 16)
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['layer9'\]; stages of this "
                                         r"model: \['layer2', 'layer3', 'layer4'\]"):
        stage_outputs(split, x, ["layer9"])


def test_head_distillation_trains_only_the_bottleneck() -> None:
    student = build_split_model("resnet18", bottleneck_channels=3, weights=None, input_size=SIZE)
    student.requires_grad_(False).eval()
    for module in student.bottleneck_modules():
        module.requires_grad_(True).train()
    trainable = {n for n, p in student.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("head.bottleneck.encoder.", "tail.bottleneck.decoder."))
                             for n in trainable)
    assert len(list(student.bottleneck_parameters())) == len(trainable)
    natural = build_split_model("resnet18", weights=None, input_size=SIZE)
    assert natural.bottleneck_modules() == ()
