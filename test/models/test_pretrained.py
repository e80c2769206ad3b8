"""EfficientNet-Lite0 with its packaged ImageNet weights, on real photos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bottlefit_ros.models import build_split_model, load_labels

SAMPLES = Path(__file__).resolve().parents[2] / "bottlefit_ros" / "data" / "samples"


def _photo(stem: str):
    cv2 = pytest.importorskip("cv2")
    found = sorted(SAMPLES.glob(f"{stem}.*"))
    if not found:
        pytest.skip(f"sample photo {stem}.jpg not in {SAMPLES}")
    return cv2.cvtColor(cv2.imread(str(found[0]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def lite0():
    return build_split_model("efficientnet_lite0")


@pytest.mark.parametrize(("stem", "expected"), [
    ("chelsea", {"tabby", "tiger cat", "Egyptian cat"}),
    ("coffee", {"espresso", "cup"}),
])
def test_top1_is_sensible(lite0, stem: str, expected: set[str]) -> None:
    rgb = _photo(stem)
    with torch.inference_mode():
        logits = lite0.decode(lite0.encode(lite0.preprocessor(rgb)))
    assert load_labels(lite0)[int(logits.argmax())] in expected


def test_default_weights_natural_split_and_student_share_the_teacher(lite0) -> None:
    student = build_split_model("efficientnet_lite0", bottleneck_channels=12)
    assert torch.equal(student.tail.blocks[10]._expand_conv.weight,
                       lite0.tail.blocks[10]._expand_conv.weight)
