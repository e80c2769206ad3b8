"""Shared fixtures of the training tests: tiny Fashion-MNIST-shaped idx files, small configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bottlefit_ros.training.data import write_idx

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "config" / "training" / "smoke.yaml"


@pytest.fixture(scope="session")
def fm_dir(tmp_path_factory) -> Path:
    """64 train and 32 test 28x28 images whose brightness depends on the label."""
    root = tmp_path_factory.mktemp("fashion_mnist")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 32)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = (rng.integers(0, 60, (n, 28, 28)) + y[:, None, None] * 19).astype(np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", y)
    return root


def smoke_args(fm_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["--config", str(SMOKE), "--out", str(out), "--set", f"data.root={fm_dir}",
            "--set", "progress=off", *[a for e in extra for a in ("--set", e)]]


@pytest.fixture
def smoke() -> object:
    """``smoke(fm_dir, out, *overrides)``: CLI arguments of the smoke configuration."""
    return smoke_args


def calibrate(model: torch.nn.Module, images: torch.Tensor) -> torch.nn.Module:
    """Give a randomly initialised model sane BatchNorm statistics (cumulative average)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(images)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.1
    return model.eval()


@pytest.fixture
def calibrate_fn():
    return calibrate


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
