"""The light encoder family: the teacher's own first layers (frozen, exact) + a small
depthwise-separable strided encoder, sized for mobile teachers such as EfficientNet-Lite0."""

from __future__ import annotations

import pytest
import torch

from bottlefit_ros.models import build_split_model, stage_outputs
from bottlefit_ros.training.evaluate import head_cost

pytest.importorskip("efficientnet_lite_pytorch")

LITE0 = "efficientnet_lite0"


def _student(c: int = 6, **kw):
    return build_split_model(LITE0, bottleneck_channels=c, encoder="light", weights=None,
                             num_classes=10, **kw)


def test_head_keeps_the_teachers_first_layers_exactly(make_stock) -> None:
    stock = make_stock(LITE0, num_classes=10).eval()
    teacher = build_split_model(LITE0, weights=stock.state_dict())
    student = build_split_model(LITE0, bottleneck_channels=4, encoder="light",
                                weights=stock.state_dict(), input_size=64)
    assert student.replaced_modules == ("blocks.1", "blocks.2", "blocks.3", "blocks.4")
    x = torch.randn(2, 3, 64, 64)
    ours: dict[str, torch.Tensor] = {}
    theirs: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        student.head.run(x, {"blocks.0": "b0"}, ours, stop_when_done=True)
        teacher.head.run(x, {"blocks.0": "b0"}, theirs, stop_when_done=True)
    assert torch.equal(ours["b0"], theirs["b0"])
    # the kept tail is the teacher's too; only bottleneck.* is new
    assert torch.equal(student.tail.fc.weight, teacher.tail.fc.weight)


def test_sends_c_x_s8_x_s8_and_decodes_the_replaced_stage() -> None:
    student = _student(6)
    info = student.info
    assert info.encoder == "light" and info.kind == "bottleneck"
    assert info.head_output_shape == (6, 28, 28)
    x = torch.randn(2, 3, 224, 224)
    teacher = build_split_model(LITE0, weights=None, num_classes=10)
    with torch.no_grad():
        z = student.encode(x)
        assert z.shape == (2, 6, 28, 28)
        s = stage_outputs(student, x)
        t = stage_outputs(teacher, x)
        assert {k: v.shape for k, v in s.items()} == {k: v.shape for k, v in t.items()}
        assert student(x).shape == (2, 10)


def test_head_costs_under_a_tenth_of_the_teachers_flops() -> None:
    teacher = build_split_model(LITE0, weights=None)
    _, whole = head_cost(torch.nn.Sequential(teacher.head, teacher.tail), (224, 224))
    _, light = head_cost(_student(8).head, (224, 224))
    _, authors = head_cost(build_split_model(LITE0, bottleneck_channels=8, weights=None,
                                             encoder="bottlefit").head, (224, 224))
    assert light < 0.10 * whole
    assert authors > 0.25 * whole  # the authors' 7x7 encoder, sized for ResNet-152


def test_a_checkpoint_gives_its_encoder_and_decoder_width() -> None:
    light = _student(3, decoder_channels=24, input_size=64)
    again = build_split_model(LITE0, bottleneck_channels=3, weights=light.state_dict(),
                              input_size=64)
    assert again.info.encoder == "light"
    assert again.tail.bottleneck.decoder[0].out_channels == 24
    assert torch.equal(again.head.bottleneck.encoder[0].weight,
                       light.head.bottleneck.encoder[0].weight)
    authors = build_split_model(LITE0, bottleneck_channels=3, decoder_channels=16,
                                weights=None, num_classes=10, input_size=64)
    again = build_split_model(LITE0, bottleneck_channels=3, weights=authors.state_dict(),
                              input_size=64)
    assert again.info.encoder == "bottlefit"


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "resnet18", "bottleneck_channels": 4, "encoder": "light"}, "no light encoder"),
    ({"name": LITE0, "bottleneck_channels": 4, "encoder": "tiny"}, "unknown encoder"),
    ({"name": LITE0, "encoder": "light"}, "give bottleneck_channels"),
])
def test_bad_encoder_choices_are_refused(kwargs, match) -> None:
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        build_split_model(name, weights=None, **kwargs)


def test_packaged_light_student_is_loaded_for_its_width() -> None:
    from bottlefit_ros.models import packaged_student

    packaged = packaged_student(LITE0, 8)
    if packaged is None:
        pytest.skip("no packaged light student")
    assert packaged.encoder == "light"
    student = build_split_model(LITE0, bottleneck_channels=8)
    assert student.info.encoder == "light"
    assert student.tail.bottleneck.decoder[0].out_channels == packaged.decoder_channels
    fresh = build_split_model(LITE0, bottleneck_channels=8, encoder="light",
                              decoder_channels=packaged.decoder_channels, weights=None)
    w = student.head.bottleneck.encoder[2].weight
    assert w.dtype == torch.float32 and not torch.equal(w, fresh.head.bottleneck.encoder[2].weight)
    # the authors' encoder at the same width is not this file: built, not loaded from it
    other = build_split_model(LITE0, bottleneck_channels=8, encoder="bottlefit")
    assert other.info.encoder == "bottlefit"
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert student.encode(x).shape == (1, 8, 28, 28)
        assert torch.isfinite(student(x)).all()


def test_encoder_width_sets_the_heads_cost_and_is_read_back_from_checkpoints(tmp_path) -> None:
    narrow = build_split_model(LITE0, bottleneck_channels=8, encoder="light", weights=None)
    wide = build_split_model(LITE0, bottleneck_channels=8, encoder="light", weights=None,
                             encoder_width=192)
    assert wide.info.head_params > narrow.info.head_params
    x = torch.randn(1, 3, 224, 224)
    assert wide.head(x).shape == narrow.head(x).shape          # the same tensor is sent
    path = tmp_path / "wide.pt"
    torch.save(wide.state_dict(), path)
    again = build_split_model(LITE0, bottleneck_channels=8, weights=str(path))
    assert again.info.encoder == "light"
    assert again.info.head_params == wide.info.head_params
    torch.testing.assert_close(again.head(x), wide.eval().head(x))
    # the packaged C = 8 student is the default width's: a wider one is not loaded over it
    packaged = build_split_model(LITE0, bottleneck_channels=8)
    unpacked = build_split_model(LITE0, bottleneck_channels=8, encoder_width=192)
    assert unpacked.info.head_params == wide.info.head_params != packaged.info.head_params
    with pytest.raises(ValueError, match="encoder_width"):
        build_split_model(LITE0, bottleneck_channels=8, encoder="bottlefit", encoder_width=64)
    with pytest.raises(ValueError, match="positive"):
        build_split_model(LITE0, bottleneck_channels=8, encoder="light", encoder_width=0)
