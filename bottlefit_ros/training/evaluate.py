"""Rate and accuracy of a split model, measured the way the robot would send it.

Per model: top-1/top-5 against labels (where there are labels) and top-1 agreement
with the teacher; the bytes per image of the head's output through the project's
codec (:class:`~bottlefit_ros.codec.TensorCodec`, one image at a time: batch size 1,
``len(payload)``), with the accuracy measured *after* the codec round trip (8-bit
quantization included); the head's parameters and FLOPs
(``torch.utils.flop_counter.FlopCounterMode``: 2 per multiply-add); and compression
against the raw input image (uint8, its own channels, at the model's input size) and
against its JPEG at quality 95 (:class:`~bottlefit_ros.codec.JpegCodec`).

Baselines measured here too: edge offloading of the JPEG image at the quality whose
mean size best matches a target (the largest quality not above it), classified by
the whole teacher on the edge.
"""

from __future__ import annotations

import copy
import random
import statistics
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bottlefit_ros.codec import JpegCodec, TensorCodec

from .loop import RunContext

__all__ = ["evaluate_jpeg_offload", "evaluate_split", "head_cost", "jpeg_bytes",
           "match_jpeg_quality", "quick_accuracy"]

Batches = Iterable[tuple[Tensor, Tensor | None]]


def head_cost(head: nn.Module, input_size: tuple[int, int]) -> tuple[int, int]:
    """``(parameters, FLOPs)`` of ``head`` for one ``3 x H x W`` image (FLOPs = 2 x MACs)."""
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in head.parameters())
    module = copy.deepcopy(head).float().cpu().eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.zeros(1, 3, *input_size))
    return params, int(counter.get_total_flops())


def _images_np(x: Tensor) -> list[np.ndarray]:
    """uint8 ``(N, C, H, W)`` -> HxW (grey) or HxWx3 arrays for the JPEG codec."""
    arr = x.detach().cpu().numpy()
    if arr.shape[1] == 1:
        return [a[0] for a in arr]
    return [np.ascontiguousarray(a.transpose(1, 2, 0)) for a in arr]


def jpeg_bytes(images: list[np.ndarray], quality: int) -> list[int]:
    """JPEG sizes of ``images`` at ``quality``."""
    codec = JpegCodec(quality)
    return [len(codec.encode(img)) for img in images]


def match_jpeg_quality(images: list[np.ndarray], target_bytes: float) -> tuple[int, float]:
    """``(quality, mean bytes)``: the largest quality whose mean JPEG size is <= ``target``.

    When even quality 1 is larger, quality 1 (the smallest JPEG there is).
    """
    cache: dict[int, float] = {}

    def mean(q: int) -> float:
        if q not in cache:
            cache[q] = statistics.fmean(jpeg_bytes(images, q))
        return cache[q]

    lo, hi = 1, 100
    if mean(lo) > target_bytes:
        return 1, mean(1)
    while lo < hi:  # sizes grow with quality (checked at the ends, not assumed between)
        mid = (lo + hi + 1) // 2
        if mean(mid) <= target_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo, mean(lo)


def _topk_hits(logits: Tensor, target: Tensor, k: int) -> int:
    k = min(k, logits.shape[1])
    return int((logits.topk(k, dim=1).indices == target[:, None]).any(1).sum())


def _summary(sizes: list[int], raw: int, jpeg: list[int]) -> dict[str, Any]:
    mean = statistics.fmean(sizes)
    jpeg_mean = statistics.fmean(jpeg) if jpeg else float("nan")
    return {"bytes_mean": mean, "bytes_p50": statistics.median(sizes), "bytes_max": max(sizes),
            "raw_bytes": raw, "jpeg95_bytes_mean": jpeg_mean,
            "saving_vs_jpeg95": 1.0 - mean / jpeg_mean, "ratio_vs_jpeg95": jpeg_mean / mean,
            "saving_vs_raw": 1.0 - mean / raw, "ratio_vs_raw": raw / mean}


class _Scores:
    def __init__(self) -> None:
        self.n = self.top1 = self.top5 = self.top1_float = 0
        self.agree1 = self.agree5 = self.teacher_top1 = 0
        self.labelled = False
        self.with_teacher = False

    def add(self, logits: Tensor, logits_float: Tensor | None, y: Tensor | None,
            teacher_logits: Tensor | None) -> None:
        self.n += len(logits)
        if y is not None:
            self.labelled = True
            self.top1 += _topk_hits(logits, y, 1)
            self.top5 += _topk_hits(logits, y, 5)
            if logits_float is not None:
                self.top1_float += _topk_hits(logits_float, y, 1)
            if teacher_logits is not None:
                self.teacher_top1 += _topk_hits(teacher_logits, y, 1)
        if teacher_logits is not None:
            self.with_teacher = True
            t = teacher_logits.argmax(1)
            self.agree1 += _topk_hits(logits, t, 1)
            self.agree5 += _topk_hits(logits, t, 5)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"images": self.n}
        if self.labelled:
            out.update(top1=self.top1 / self.n, top5=self.top5 / self.n,
                       top1_float=self.top1_float / self.n)
        if self.with_teacher:
            out.update(agreement_top1=self.agree1 / self.n, agreement_top5=self.agree5 / self.n)
            if self.labelled:
                out["teacher_top1"] = self.teacher_top1 / self.n
        return out


@torch.no_grad()
def evaluate_split(split: nn.Module, batches: Batches, run: RunContext, *,
                   codec: TensorCodec | None = None, teacher: nn.Module | None = None,
                   jpeg_quality: int = 95, input_size: tuple[int, int] | None = None,
                   keep_images: int = 0) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Accuracy after the codec round trip, bytes per image at batch size 1, head cost.

    ``split`` has ``encode``/``decode``/``head``/``info`` (a SplitModel or the
    autoencoder baseline); ``batches`` yields uint8 images at the input size.
    Returns ``(metrics, up to keep_images images as arrays)`` for JPEG matching: all of
    them when there are no more, else a uniform sample (reservoir, seeded), so the
    matched quality is not fitted to the first photos of a sorted folder.
    """
    codec = codec or TensorCodec("q8+zstd")
    jpeg = JpegCodec(jpeg_quality)
    was_training = split.training
    split.eval()
    if teacher is not None:
        teacher.eval()
    scores = _Scores()
    sizes: list[int] = []
    jpeg_sizes: list[int] = []
    kept: list[np.ndarray] = []
    sampler, seen = random.Random(0), 0
    raw = 0
    shape: tuple[int, ...] = ()
    for x_u8, y in batches:
        raw = int(x_u8[0].numel())
        images = _images_np(x_u8)
        jpeg_sizes += [len(jpeg.encode(img)) for img in images]
        for img in images if keep_images else ():
            if len(kept) < keep_images:
                kept.append(img)
            else:
                j = sampler.randrange(seen + 1)
                if j < keep_images:
                    kept[j] = img
            seen += 1
        x = run.prepare(x_u8)
        z = split.encode(x).float()
        shape = tuple(z.shape[1:])
        z_np = z.cpu().numpy()
        decoded = []
        for i in range(len(z_np)):
            enc = codec.encode(np.ascontiguousarray(z_np[i:i + 1]))
            sizes.append(len(enc.payload))
            decoded.append(codec.decode(enc))
        zq = torch.from_numpy(np.concatenate(decoded)).to(z.device)
        if z.is_contiguous(memory_format=torch.channels_last) and zq.dim() == 4:
            zq = zq.contiguous(memory_format=torch.channels_last)
        logits = split.decode(zq).float()
        logits_float = split.decode(z).float()
        t = teacher(x).float() if teacher is not None else None
        scores.add(logits, logits_float, y, t)
    if not sizes:
        raise ValueError("no evaluation images")
    info = getattr(split, "info", None)
    size = input_size or (info.input_size if info is not None else tuple(x_u8.shape[-2:]))
    params, flops = head_cost(split.head, tuple(size))  # type: ignore[arg-type]
    out = scores.result()
    out.update(_summary(sizes, raw, jpeg_sizes))
    out.update(tensor_shape=list(shape), head_params=params, head_flops=flops,
               codec=codec.codec)
    split.train(was_training)
    return out, kept


@torch.no_grad()
def evaluate_jpeg_offload(model: nn.Module, batches: Batches, run: RunContext, *, quality: int,
                          teacher: nn.Module | None = None, jpeg_quality: int = 95,
                          ) -> dict[str, Any]:
    """Edge offloading: each image sent as JPEG at ``quality``, classified by ``model`` (whole).

    Agreement is with ``teacher`` on the original (uncompressed) image.
    """
    codec, ref = JpegCodec(quality), JpegCodec(jpeg_quality)
    model.eval()
    scores = _Scores()
    sizes: list[int] = []
    ref_sizes: list[int] = []
    raw = 0
    for x_u8, y in batches:
        raw = int(x_u8[0].numel())
        decoded = []
        for img in _images_np(x_u8):
            data = codec.encode(img)
            sizes.append(len(data))
            ref_sizes.append(len(ref.encode(img)))
            decoded.append(codec.decode(data).transpose(2, 0, 1))
        xj = torch.from_numpy(np.stack(decoded)).to(x_u8.device)
        if x_u8.shape[1] == 1:
            xj = xj[:, :1]
        logits = model(run.prepare(xj)).float()
        t = (teacher if teacher is not None else model)(run.prepare(x_u8)).float()
        scores.add(logits, None, y, t)
    out = scores.result()
    out.pop("top1_float", None)
    out.update(_summary(sizes, raw, ref_sizes))
    out.update(jpeg_quality=quality, tensor_shape=[], head_params=0, head_flops=0, codec="jpeg")
    return out


@torch.no_grad()
def quick_accuracy(model: nn.Module, batches: Batches, run: RunContext,
                   teacher: nn.Module | None = None, limit: int = 0) -> dict[str, float]:
    """Float top-1 (labels) or top-1 agreement (teacher) on up to ``limit`` images."""
    was_training = model.training
    model.eval()
    n = hits = agree = 0
    labelled = False
    for x_u8, y in batches:
        x = run.prepare(x_u8)
        with run.autocast():
            logits = model(x).float()
            t = teacher(x).float() if teacher is not None else None
        n += len(x)
        if y is not None:
            labelled = True
            hits += _topk_hits(logits, y, 1)
        if t is not None:
            agree += _topk_hits(logits, t.argmax(1), 1)
        if limit and n >= limit:
            break
    model.train(was_training)
    out: dict[str, float] = {}
    if n and labelled:
        out["eval_top1"] = hits / n
    if n and teacher is not None:
        out["eval_agreement"] = agree / n
    return out
