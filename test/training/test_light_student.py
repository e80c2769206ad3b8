"""Training a light-encoder student: the teacher's first layers in the head stay the teacher's."""

from __future__ import annotations

import pytest
import torch

from bottlefit_ros.models import build_split_model
from bottlefit_ros.training.methods import _student_mode

pytest.importorskip("efficientnet_lite_pytorch")


def test_freezing_the_tail_also_freezes_the_heads_teacher_layers() -> None:
    student = build_split_model("efficientnet_lite0", bottleneck_channels=3, encoder="light",
                                decoder_channels=16, weights=None, num_classes=10,
                                input_size=64)
    params, train_mode = _student_mode(student, ["encoder", "tail"])
    trainable = {id(p) for p in params}
    decoder = list(student.tail.bottleneck.decoder.parameters())
    assert trainable == {id(p) for p in decoder}
    train_mode()
    assert not student.head.bn0.training and not student.head.blocks[0].training
    assert student.tail.bottleneck.decoder.training
    # a stage-2 step changes the decoder only; the head (sent to robots) is unchanged
    before = {k: v.clone() for k, v in student.head.state_dict().items()}
    opt = torch.optim.SGD(params, lr=0.1)
    student(torch.randn(4, 3, 64, 64)).square().mean().backward()
    opt.step()
    after = student.head.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_evaluate_runs_on_a_folder_of_photos_without_the_training_images(tmp_path) -> None:
    """``python -m bottlefit_ros.training evaluate`` on a user's photos: the config's training
    folder need not exist (it is not read)."""
    import json
    import shutil
    from pathlib import Path

    from bottlefit_ros.models import packaged_student
    from bottlefit_ros.training.cli import main

    if packaged_student("efficientnet_lite0", 8) is None:
        pytest.skip("no packaged light student")
    photos = tmp_path / "photos"
    photos.mkdir()
    samples = Path(__file__).resolve().parents[2] / "bottlefit_ros" / "data" / "samples"
    for name in ("chelsea.jpg", "coffee.jpg"):
        shutil.copy(samples / name, photos / name)
    out = tmp_path / "eval"
    assert main(["evaluate", "--config", "config/training/lite0_light.yaml",
                 "--set", "model.bottleneck_channels=8", "--set", "model.input_size=64",
                 "--set", f"data.root={tmp_path / 'no-such-folder'}",
                 "--set", f"data.eval_root={photos}", "--set", "eval.match_images=8",
                 "--set", "device=cpu", "--out", str(out)]) == 0
    rows = json.loads((out / "result.json").read_text())["rows"]
    student = rows[0]
    assert student["method"] == "bottlefit" and student["images"] == 28  # 2 photos x 14 views
    assert student["tensor_shape"] == [8, 8, 8]  # C x 64/8 x 64/8
    assert rows[1]["method"] == "jpeg_offload"


def test_jpeg_matching_images_are_sampled_from_the_whole_set(tmp_path) -> None:
    """The images kept to match a JPEG quality come from the whole evaluation set, not
    only its first batches (the first photos of a sorted folder)."""
    from bottlefit_ros.training.evaluate import evaluate_split
    from bottlefit_ros.training.loop import RunContext

    model = build_split_model("resnet18", bottleneck_channels=2, decoder_channels=8,
                              weights=None, num_classes=10, input_size=32)
    # 10 batches of 4 flat images; image k has every pixel = k
    batches = [(torch.arange(4 * b, 4 * b + 4, dtype=torch.uint8).view(4, 1, 1, 1)
                .expand(4, 3, 32, 32).contiguous(), None) for b in range(10)]
    run = RunContext(out_dir=tmp_path, amp=False, channels_last=False, progress="off")
    _, kept = evaluate_split(model, batches, run, keep_images=8)
    indices = sorted(int(img[0, 0, 0]) for img in kept)
    assert len(indices) == 8 and len(set(indices)) == 8
    assert max(indices) >= 20  # some from the second half of the 40 images
    _, every = evaluate_split(model, batches, run, keep_images=100)
    assert sorted(int(img[0, 0, 0]) for img in every) == list(range(40))
