"""DeepInversion data source (CPU, a tiny teacher): seeded, the statistics loss falls, cached."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bottlefit_ros.training import data as D
from bottlefit_ros.training.cli import main as cli_main
from bottlefit_ros.training.synthesis import (SynthesisSettings, cache_key, link_mix,
                                              synthesize, synthesize_batch)

MEAN = torch.full((3,), 127.0)
STD = torch.full((3,), 128.0)
TINY = SynthesisSettings(batch_size=4, size=32, low_size=16, low_iterations=6, iterations=4,
                         lr=0.1, jitter=4, num_classes=5)


def _teacher(calibrate) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    # running statistics of smooth, bright "natural" images, unlike the initial noise
    g = torch.Generator().manual_seed(1)
    base = torch.rand(32, 3, 4, 4, generator=g) * 0.6 + 0.2
    images = nn.functional.interpolate(base, size=(32, 32), mode="bilinear") * 255
    return calibrate(model, (images - 127) / 128).requires_grad_(False)


def _run(teacher: nn.Module, seed: int, settings: SynthesisSettings = TINY,
         on_step=None) -> tuple[torch.Tensor, dict]:
    return synthesize_batch(teacher, torch.tensor([0, 1, 2, 3]), settings,
                            generator=torch.Generator().manual_seed(seed), mean=MEAN, std=STD,
                            on_step=on_step)


def test_same_seed_same_images_other_seed_others(calibrate_fn) -> None:
    teacher = _teacher(calibrate_fn)
    a, sa = _run(teacher, 3)
    b, _ = _run(teacher, 3)
    c, _ = _run(teacher, 4)
    assert a.shape == (4, 3, 32, 32) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert len(sa["confidence"]) == 4 and all(0 <= p <= 1 for p in sa["confidence"])


def test_statistics_loss_falls_and_targets_are_learnt(calibrate_fn) -> None:
    teacher = _teacher(calibrate_fn)
    seen: list[dict] = []
    settings = TINY.replace(low_size=0, iterations=60, bn_weight=1.0)
    _, stats = _run(teacher, 0, settings, on_step=lambda i, losses: seen.append(losses))
    assert len(seen) == 60
    first = sum(s["bn"] for s in seen[:5]) / 5
    last = sum(s["bn"] for s in seen[-5:]) / 5
    assert last < 0.5 * first, (first, last)
    assert seen[-1]["ce"] < seen[0]["ce"]
    # the teacher now gives most images their target class
    assert sum(stats["top1_is_target"]) >= 2


def test_multi_resolution_phases(calibrate_fn) -> None:
    teacher = _teacher(calibrate_fn)
    sides: list[int] = []
    _run(teacher, 0, on_step=lambda i, losses: sides.append(losses["side"]))
    assert sides == [16] * TINY.low_iterations + [32] * TINY.iterations


def test_cache_hit_resume_and_key(calibrate_fn, tmp_path) -> None:
    teacher = _teacher(calibrate_fn)
    kw = dict(count=6, seed=0, cache=tmp_path, mean=MEAN, std=STD, log=None)
    first = synthesize(teacher, TINY, **kw)
    assert first.new_images == 8 and first.images == 8          # two whole batches
    pngs = sorted(first.folder.rglob("*.png"))
    assert len(pngs) == 8
    before = {p.name: p.read_bytes() for p in pngs}
    again = synthesize(teacher, TINY, **kw)
    assert again.new_images == 0 and again.folder == first.folder
    # an interrupted run: shard 1's record missing -> only shard 1 is made again, identically
    (first.folder / "shard_00001.json").unlink()
    resumed = synthesize(teacher, TINY, **kw)
    assert resumed.new_images == 4 and resumed.images == 8
    assert {p.name: p.read_bytes() for p in first.folder.rglob("*.png")} == before
    record = json.loads((first.folder / "shard_00000.json").read_text())
    assert len(record["targets"]) == 4 and set(record["targets"]) <= set(range(5))
    # other settings or seed -> another folder
    other = synthesize(teacher, TINY.replace(lr=0.2), **{**kw, "count": 4})
    assert other.folder != first.folder
    assert cache_key(TINY, 0, "x") != cache_key(TINY, 1, "x")
    # the folder is a label-free data source
    images = D.read_image_folder(first.folder)
    assert len(images) == 8 and images[0][1].shape == (32, 32, 3)


def test_link_mix_weights_sources(tmp_path, calibrate_fn) -> None:
    teacher = _teacher(calibrate_fn)
    synth = synthesize(teacher, TINY, count=4, seed=0, cache=tmp_path / "c", mean=MEAN,
                       std=STD, log=None)
    natural = tmp_path / "natural"
    natural.mkdir()
    import cv2
    import numpy as np

    for i in range(3):
        cv2.imwrite(str(natural / f"p{i}.jpg"), np.full((40, 50, 3), 60 * i, np.uint8))
    n = link_mix(tmp_path / "mix", [(natural, 2), (synth.folder, 1)])
    assert n == 3 * 2 + 4
    assert len(D.read_image_folder(tmp_path / "mix")) == 10
    assert link_mix(tmp_path / "mix", [(natural, 1)]) == 3      # old links replaced
    assert len(list((tmp_path / "mix").iterdir())) == 3


def test_settings_overrides() -> None:
    s = SynthesisSettings.from_overrides(["batch_size=512", "lr=1", "flip=false"])
    assert (s.batch_size, s.lr, s.flip) == (512, 1.0, False)
    with pytest.raises(ValueError, match="KEY one of"):
        SynthesisSettings.from_overrides(["nope=1"])
    with pytest.raises(ValueError, match="must be int"):
        SynthesisSettings.from_overrides(["batch_size=big"])


def test_cli_parses_synthesize() -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["synthesize", "--help"])
    assert exc.value.code == 0
