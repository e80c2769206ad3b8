"""Configuration: the authors' defaults, YAML files with base:, --set overrides, errors."""

from __future__ import annotations

import pytest

from pathlib import Path

from bottlefit_ros.training.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_authors() -> None:
    cfg = load_config()
    assert (cfg.stage1.optimizer, cfg.stage1.lr, cfg.stage1.epochs, cfg.stage1.milestones,
            cfg.stage1.loss) == ("adam", 1e-3, 10, [5], "hnd")
    assert (cfg.stage2.optimizer, cfg.stage2.lr, cfg.stage2.momentum, cfg.stage2.weight_decay,
            cfg.stage2.kd_alpha, cfg.stage2.kd_temperature) == ("sgd", 1e-3, 0.9, 5e-4, 0.5, 1.0)
    assert cfg.data.batch_size == 64 and cfg.model.input_size == 224


def test_every_shipped_config_loads() -> None:
    configs = sorted((REPO / "config" / "training").glob("*.yaml"))
    assert configs
    for path in configs:
        if path.name.startswith("grid_"):
            continue
        load_config(path)


def test_base_file_and_overrides(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text("model: {name: resnet18, input_size: 64}\nseed: 3\n")
    (tmp_path / "run.yaml").write_text("base: base.yaml\nseed: 4\nstage1: {epochs: 2}\n")
    cfg = load_config(tmp_path / "run.yaml", ["stage1.lr=0.01", "progress=off",
                                              "stage2.freeze=[encoder]"])
    assert (cfg.model.name, cfg.model.input_size, cfg.seed) == ("resnet18", 64, 4)
    assert (cfg.stage1.epochs, cfg.stage1.lr, cfg.progress) == (2, 0.01, "off")
    assert cfg.stage2.freeze == ["encoder"] and cfg.stage2.epochs == 10


@pytest.mark.parametrize(("override", "message"), [
    ("stage1.nope=1", "unknown configuration key 'stage1.nope'"),
    ("stage2.freeze=[head]", "freeze takes encoder, decoder, tail"),
    ("stage1.optimizer=rmsprop", "optimizer must be"),
    ("data.augment=heavy", "data.augment"),
    ("seed", "KEY=VALUE"),
])
def test_bad_values_are_refused(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])
