from __future__ import annotations

import pytest
import torch

from bottlefit_ros.models import build_split_model, remap_state_dict


def _equal_teacher_tensors(split, teacher_state: dict, skip: tuple[str, ...] = ()) -> int:
    """Assert teacher tensors present in `split` are equal; return how many there were."""
    own = {k.split(".", 1)[1]: v for k, v in split.state_dict().items()}
    compared = 0
    for key, value in teacher_state.items():
        if key in own and not key.startswith(skip):
            assert torch.equal(own[key], value), key
            compared += 1
    return compared


def test_stock_torchvision_state_dict_loads_into_natural_and_bottleneck(tmp_path, make_stock,
                                                                       ) -> None:
    stock = make_stock("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(stock.state_dict(), path)
    state = stock.state_dict()

    natural = build_split_model("resnet18", weights=path, input_size=64)
    assert _equal_teacher_tensors(natural, state) == len(state)
    assert set(natural.head.state_dict()) <= set(state)  # torchvision names kept

    student = build_split_model("resnet18", bottleneck_channels=12, weights=path, input_size=64)
    kept = [k for k in state if k.startswith(("layer3.", "layer4.", "fc."))]
    assert _equal_teacher_tensors(student, state) == len(kept)
    report = student.load_weights(path)
    assert all(k.startswith("bottleneck.") for k in report.initialised)
    assert {k.split(".")[0] for k in report.ignored} == {"conv1", "bn1", "layer1", "layer2"}


def test_student_checkpoint_round_trips(tmp_path) -> None:
    student = build_split_model("mobilenet_v2", bottleneck_channels=3, weights=None,
                                num_classes=10, input_size=64)
    path = tmp_path / "student.pth"
    torch.save({"model": student.state_dict(), "epoch": torch.tensor(3)}, path)
    loaded = build_split_model("mobilenet_v2", bottleneck_channels=3, weights=path, input_size=64)
    assert loaded.info.num_classes == 10  # inferred from the checkpoint
    for (k1, v1), (k2, v2) in zip(student.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert loaded.head_fingerprint == student.head_fingerprint
    with pytest.raises(ValueError, match="shape mismatch: bottleneck.encoder.6.weight"):
        build_split_model("mobilenet_v2", bottleneck_channels=12, weights=path, input_size=64)
    with pytest.raises(ValueError, match="unexpected keys: bottleneck.encoder"):
        build_split_model("mobilenet_v2", weights=path, input_size=64)


def test_new_num_classes_replaces_only_the_classifier(make_stock) -> None:
    stock = make_stock("densenet121")
    split = build_split_model("densenet121", weights=stock.state_dict(), num_classes=10,
                              input_size=64)
    assert split.tail.classifier.out_features == 10
    assert _equal_teacher_tensors(split, stock.state_dict(), skip=("classifier",)) == \
        len(stock.state_dict()) - 2


def test_wrong_teacher_is_refused(make_stock) -> None:
    with pytest.raises(ValueError, match="checkpoint does not fit resnet18 .*shape mismatch"):
        build_split_model("resnet18", weights=make_stock("resnet50").state_dict(), input_size=64)


def test_missing_checkpoint_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        build_split_model("resnet18", weights=tmp_path / "nope.pth")


def test_remap_handles_wrappers_package_names_and_legacy_densenet() -> None:
    t = torch.zeros(1)
    state = {"module.head.layer1.0.conv1.weight": t, "_blocks.3._bn1.weight": t,
             "features.denseblock1.denselayer1.norm.1.weight": t, "_orig_mod.tail.fc.bias": t}
    assert list(remap_state_dict(state)) == [
        "layer1.0.conv1.weight", "blocks.3._bn1.weight",
        "features.denseblock1.denselayer1.norm1.weight", "fc.bias"]
    assert remap_state_dict(remap_state_dict(state)) == remap_state_dict(state)


def test_lite0_package_checkpoint_loads_into_student(make_stock) -> None:
    stock = make_stock("efficientnet_lite0")
    student = build_split_model("efficientnet_lite0", bottleneck_channels=3,
                                weights=stock.state_dict(), input_size=64)
    assert torch.equal(student.tail.blocks[5]._project_conv.weight,
                       stock._blocks[5]._project_conv.weight)
    assert torch.equal(student.tail.fc.weight, stock._fc.weight)
