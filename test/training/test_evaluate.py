"""Evaluation numbers on tiny models: bytes are len(payload), ratios, FLOPs, accuracy, JPEG."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bottlefit_ros.codec import JpegCodec, TensorCodec
from bottlefit_ros.training.evaluate import (evaluate_jpeg_offload, evaluate_split, head_cost,
                                             match_jpeg_quality)
from bottlefit_ros.training.loop import RunContext


class TinySplit(nn.Module):
    """head: 1x1 conv 3 -> 2 channels (no bias); tail: mean over space, fixed 2 -> 3 matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 2, kernel_size=1, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]).view(2, 3, 1, 1))
        self.register_buffer("w", torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]]))

    def encode(self, x):
        return self.head(x)

    def decode(self, z):
        return z.mean((2, 3)) @ self.w

    def forward(self, x):
        return self.decode(self.encode(x))


def _batches(n: int = 6, size: int = 8):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    run = RunContext(out_dir=Path("."), amp=False, channels_last=False,
                     mean=torch.zeros(1, 3, 1, 1), std=torch.full((1, 3, 1, 1), 255.0))
    logits = TinySplit()(run.prepare(x))
    y = logits.argmax(1)
    y[0] = (y[0] + 1) % 3  # one wrong label
    return [(x[:4], y[:4]), (x[4:], y[4:])], run, x


def test_bytes_are_the_codec_payload_at_batch_size_1() -> None:
    batches, run, x = _batches()
    model = TinySplit()
    metrics, kept = evaluate_split(model, batches, run, codec=TensorCodec("q8+zstd"),
                                   teacher=model, input_size=(8, 8), keep_images=3)
    codec = TensorCodec("q8+zstd")
    z = model.encode(run.prepare(x)).detach().numpy()
    sizes = [len(codec.encode(np.ascontiguousarray(z[i:i + 1])).payload) for i in range(len(z))]
    jpeg = [len(JpegCodec(95).encode(np.ascontiguousarray(img.permute(1, 2, 0).numpy())))
            for img in x]
    assert metrics["bytes_mean"] == pytest.approx(statistics.fmean(sizes))
    assert metrics["bytes_max"] == max(sizes)
    assert metrics["raw_bytes"] == 3 * 8 * 8
    assert metrics["jpeg95_bytes_mean"] == pytest.approx(statistics.fmean(jpeg))
    assert metrics["saving_vs_jpeg95"] == pytest.approx(1 - statistics.fmean(sizes) / statistics.fmean(jpeg))
    assert metrics["ratio_vs_raw"] == pytest.approx(192 / statistics.fmean(sizes))
    assert metrics["tensor_shape"] == [2, 8, 8] and metrics["images"] == 6
    assert metrics["top1"] == pytest.approx(5 / 6) and metrics["top5"] == 1.0
    assert metrics["agreement_top1"] == 1.0
    assert metrics["head_params"] == 6 and metrics["head_flops"] == 2 * 6 * 64
    assert len(kept) == 3 and kept[0].shape == (8, 8, 3)


def test_head_cost_counts_two_flops_per_multiply_add() -> None:
    conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU())
    params, flops = head_cost(conv, (10, 10))
    assert params == 4 * 3 * 9 and flops == 2 * (4 * 3 * 9) * 100


def test_matched_jpeg_quality_is_the_largest_not_above_the_target() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (8, 8, 3))
    images = [np.kron(base + i, np.ones((4, 4, 1))).clip(0, 255).astype(np.uint8)
              for i in range(4)]

    def mean(q: int) -> float:
        return statistics.fmean(len(JpegCodec(q).encode(im)) for im in images)

    target = mean(50) + 1
    q, size = match_jpeg_quality(images, target)
    assert size == pytest.approx(mean(q)) and size <= target
    assert q == 100 or mean(q + 1) > target
    assert match_jpeg_quality(images, 10) == (1, pytest.approx(mean(1)))


def test_jpeg_offload_counts_the_jpeg_bytes() -> None:
    batches, run, x = _batches()
    out = evaluate_jpeg_offload(TinySplit(), batches, run, quality=80)
    sizes = [len(JpegCodec(80).encode(np.ascontiguousarray(img.permute(1, 2, 0).numpy())))
             for img in x]
    assert out["bytes_mean"] == pytest.approx(statistics.fmean(sizes))
    assert out["jpeg_quality"] == 80 and out["head_flops"] == 0 and out["images"] == 6
