"""The training methods: BottleFit's two stages, its baselines, and the teachers.

- ``teacher``: the whole network trained with cross-entropy (from scratch, or from
  ``model.teacher_weights``): the Fashion-MNIST teachers.
- ``bottlefit``: stage 1, head distillation (label-free: feature losses at the split
  and every later stage; only encoder + decoder train, the teacher's layers are frozen,
  BatchNorm statistics included), then stage 2, fine-tuning (``kd``: alpha * CE +
  (1 - alpha) * T^2 * KL; ``ce``; parts listed in ``stage2.freeze`` stay fixed).
  ``stage1`` / ``stage2`` run one stage (``stage2`` starts from ``stage1.pt``).
- ``naive``: the same student (teacher-initialised tail, new encoder/decoder) trained
  end to end with cross-entropy only.
- ``autoencoder``: an encoder/decoder pair at a natural split of the frozen teacher.
- ``natural`` (evaluation only): the teacher cut at the split the bottleneck replaces,
  its tensor sent with 8-bit quantization; and JPEG offloading at matched bytes.

Each method trains with :func:`~bottlefit_ros.training.loop.fit`, then (rank 0)
evaluates and writes ``result.json`` in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bottlefit_ros.codec import TensorCodec
from bottlefit_ros.models import (NORMALIZATIONS, SplitModel, build_split_model,
                                  get_model_normalization, stage_outputs)

from . import data as D
from .autoencoder import AutoencoderSplit
from .config import TrainConfig, config_to_dict
from .distributed import DistInfo
from .evaluate import (evaluate_jpeg_offload, evaluate_split, match_jpeg_quality,
                       quick_accuracy)
from .loop import RunContext, Stage, fit
from .losses import feature_distillation_loss, kd_loss

__all__ = ["METHODS", "build_student", "build_teacher_model", "make_run", "run_method"]

METHODS = ("teacher", "bottlefit", "stage1", "stage2", "naive", "autoencoder", "natural")


# ---------------------------------------------------------------------------- steps
class _CEStep(nn.Module):
    def __init__(self, model: nn.Module, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model, self.label_smoothing = model, label_smoothing

    def forward(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        if y is None:
            raise ValueError("cross-entropy needs labels; label-free data trains with "
                             "stage 1 (hnd) or kd with kd_alpha: 0")
        logits = self.model(x)
        return F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing), logits


class _HeadDistillationStep(nn.Module):
    def __init__(self, student: SplitModel, teacher: SplitModel) -> None:
        super().__init__()
        self.student, self.teacher = student, teacher

    def forward(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, None]:
        with torch.no_grad():
            t = stage_outputs(self.teacher, x)
        s = stage_outputs(self.student, x)
        return feature_distillation_loss(s, t), None


class _KDStep(nn.Module):
    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float, temperature: float,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.student, self.teacher = student, teacher
        self.alpha, self.temperature, self.label_smoothing = alpha, temperature, label_smoothing

    def forward(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        logits = self.student(x)
        with torch.no_grad():
            t = self.teacher(x)
        return kd_loss(logits, t, y, alpha=self.alpha if y is not None else 0.0,
                       temperature=self.temperature,
                       label_smoothing=self.label_smoothing), logits


class _AutoencoderStep(nn.Module):
    def __init__(self, model: AutoencoderSplit) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, None]:
        ours, ref = self.model.feature_outputs(x)
        return feature_distillation_loss(ours, ref), None


# ---------------------------------------------------------------------------- models
def _teacher_weights(cfg: TrainConfig) -> str | None:
    w = cfg.model.teacher_weights
    return w if w else None


def build_teacher_model(cfg: TrainConfig, *, split: str | None = None,
                        weights: str | None | object = "config") -> SplitModel:
    """The teacher as a natural split (default: where the bottleneck goes)."""
    w = _teacher_weights(cfg) if weights == "config" else weights
    return build_split_model(cfg.model.name, split=split or None, weights=w,  # type: ignore[arg-type]
                             num_classes=cfg.model.num_classes,
                             input_size=cfg.model.input_size)


def build_student(cfg: TrainConfig, teacher: SplitModel | None) -> SplitModel:
    """A BottleFit student whose kept layers are ``teacher``'s; new encoder and decoder."""
    student = build_split_model(cfg.model.name, bottleneck_channels=cfg.model.bottleneck_channels,
                                decoder_channels=cfg.model.decoder_channels, weights=None,
                                num_classes=cfg.model.num_classes,
                                input_size=cfg.model.input_size,
                                encoder=cfg.model.encoder or None,
                                encoder_width=cfg.model.encoder_width or None)
    if teacher is not None:
        student.load_weights(teacher.state_dict())
    if cfg.model.student_init:
        _load_bottleneck(student, cfg.model.student_init)
    return student


def _load_bottleneck(student: SplitModel, path: str) -> None:
    """Start from an exported bottleneck (``export`` output: head/tail.bottleneck.* tensors)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj.get("state_dict", obj)
    own = student.state_dict()
    keys = {k for k in own if k.startswith(("head.bottleneck.", "tail.bottleneck."))}
    if set(state) != keys:
        raise ValueError(f"{path} does not hold exactly this student's bottleneck tensors")
    student.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)


def _frozen_teacher(model: SplitModel) -> SplitModel:
    return model.requires_grad_(False).eval()


def _channels_last(model: nn.Module, run: RunContext) -> nn.Module:
    model = model.to(run.device)
    if run.channels_last and run.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


# ---------------------------------------------------------------------------- data
def _normalization(cfg: TrainConfig) -> tuple[Tensor, Tensor]:
    mean, std = NORMALIZATIONS[get_model_normalization(cfg.model.name)]
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


def make_run(cfg: TrainConfig, dist: DistInfo, *, stop_after_epochs: int = 0) -> RunContext:
    mean, std = _normalization(cfg)
    return RunContext(out_dir=Path(cfg.out_dir), dist=dist, amp=cfg.amp,
                      channels_last=cfg.channels_last, progress=cfg.progress, resume=cfg.resume,
                      eval_every=cfg.eval_every, stop_after_epochs=stop_after_epochs,
                      mean=mean, std=std)


def _label_free_images(source: str, root: str, cfg: TrainConfig, *, training: bool) -> D.Named:
    d = cfg.data
    exclude = d.exclude if training else ()
    if source == "samples":
        return D.read_sample_photos(exclude=exclude, max_side=d.max_side)
    if source == "folder":
        return D.read_image_folder(root, exclude=exclude, max_side=d.max_side)
    if source == "rosbag":
        return D.read_rosbag_images(root, topic=d.topic, every_n=d.every_n, max_side=d.max_side)
    raise ValueError(f"unknown data source {source!r}; known: fashion_mnist, image_folder, "
                     f"folder, rosbag, samples")


def load_data(cfg: TrainConfig, run: RunContext, *, train: bool = True) -> tuple[Any, Any]:
    """``(train batches, evaluation batches)`` for ``cfg.data`` on this rank.

    ``train=False`` (evaluation only): label-free sources read only the evaluation photos
    (``data.eval_root``), so a student can be checked on a folder of photos without the
    training images; the train batches are then ``None``.
    """
    d, dist, size = cfg.data, run.dist, cfg.model.input_size
    common = dict(device=dist.device, seed=cfg.seed)
    if d.source == "fashion_mnist":
        x, y = D.load_fashion_mnist(d.root or D.DEFAULT_FASHION_MNIST, "train")
        xt, yt = D.load_fashion_mnist(d.eval_root or d.root or D.DEFAULT_FASHION_MNIST, "test")
        if d.limit_train:
            x, y = x[: d.limit_train], y[: d.limit_train]
        if d.limit_eval:
            xt, yt = xt[: d.limit_eval], yt[: d.limit_eval]
        train = D.TensorBatches(x, y, size=size, batch_size=d.batch_size, shuffle=True,
                                augment=d.augment, min_scale=d.min_scale, rank=dist.rank,
                                world=dist.world, drop_last=True, on_device=d.on_device, **common)
        test = D.TensorBatches(xt, yt, size=size, batch_size=d.eval_batch_size, uint8=True,
                               on_device=d.on_device, **common)
        return train, test
    if d.source == "image_folder":
        if not d.eval_root:
            raise ValueError("data.source image_folder needs data.eval_root (the val/ folder)")
        tr = D.ImageFolderDataset(d.root, size=size, train=True, min_scale=d.min_scale,
                                  seed=cfg.seed, limit=d.limit_train)
        ev = D.ImageFolderDataset(d.eval_root, size=size, train=False, limit=d.limit_eval)
        train = D.LoaderBatches(tr, batch_size=d.batch_size, shuffle=True, workers=d.workers,
                                rank=dist.rank, world=dist.world, drop_last=True, **common)
        test = D.LoaderBatches(ev, batch_size=d.eval_batch_size, shuffle=False,
                               workers=d.workers, uint8=True, **common)
        return train, test
    eval_source = d.eval_source or d.source
    separate = bool(d.eval_root or d.eval_source)
    images: D.Named = []
    batches = None
    if train or not separate:
        images = _label_free_images(d.source, d.root, cfg, training=True)
        if d.limit_train:
            images = images[: d.limit_train]
    if train:
        steps = d.steps_per_epoch or max(1, len(images) // d.batch_size)
        batches = D.PhotoBatches(images, size=size, batch_size=d.batch_size, steps=steps,
                                 augment=d.augment, min_scale=d.min_scale, rank=dist.rank,
                                 **common)
    held_out = _label_free_images(eval_source, d.eval_root or d.root, cfg, training=False) \
        if separate else images
    if d.limit_eval:
        held_out = held_out[: d.limit_eval]
    views, _ = D.photo_views(held_out, size, d.eval_views)
    test = D.TensorBatches(views, None, size=size, batch_size=d.eval_batch_size, uint8=True,
                           **common)
    return batches, test


# ---------------------------------------------------------------------------- stages
def _student_mode(student: SplitModel, freeze: list[str]) -> tuple[list[nn.Parameter], Any]:
    encoder, decoder = student.bottleneck_modules()
    # "tail": every teacher layer the student keeps, the light head's first layers too
    kept = [m for part in (student.head, student.tail)
            for n, m in part.named_children() if n != "bottleneck"]
    groups = {"encoder": [encoder], "decoder": [decoder], "tail": kept}
    frozen = [m for name in freeze for m in groups[name]]

    def train_mode() -> None:
        student.train()
        for m in frozen:
            m.eval()

    student.requires_grad_(True)
    for m in frozen:
        m.requires_grad_(False)
    return [p for p in student.parameters() if p.requires_grad], train_mode


def _evaluator(batches: Any, run: RunContext, teacher: nn.Module | None, limit: int = 5000):  # noqa: ANN202
    def evaluate(module: nn.Module) -> dict[str, float]:
        model = module.model if isinstance(module, _CEStep) else module
        return quick_accuracy(model, batches, run, teacher=teacher, limit=limit)
    return evaluate


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=str) + "\n")


def _row(method: str, cfg: TrainConfig, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"method": method, "model": cfg.model.name, "input_size": cfg.model.input_size,
            "bottleneck_channels": extra.pop("channels", cfg.model.bottleneck_channels),
            **extra, **metrics}


def _teacher_row(natural: dict[str, Any]) -> dict[str, Any]:
    """The whole teacher run locally: float accuracy, nothing sent (the input's sizes kept)."""
    keep = ("model", "input_size", "images", "top1_float", "teacher_top1", "raw_bytes",
            "jpeg95_bytes_mean")
    row = {k: natural[k] for k in keep if k in natural}
    row.update(method="teacher", bottleneck_channels=None, top1=natural.get("top1_float"))
    return row


def _codec(cfg: TrainConfig) -> TensorCodec:
    return TensorCodec(cfg.eval.codec, level=cfg.eval.level)


def _evaluate_model(method: str, model: nn.Module, cfg: TrainConfig, run: RunContext,
                    test: Any, teacher: SplitModel | None, *, channels: int | None,
                    match_jpeg: bool = False, **extra: Any) -> list[dict[str, Any]]:
    keep = cfg.eval.match_images if match_jpeg else 0
    metrics, kept = evaluate_split(model, test, run, codec=_codec(cfg), teacher=teacher,
                                   jpeg_quality=cfg.eval.jpeg_quality, keep_images=keep)
    rows = [_row(method, cfg, metrics, channels=channels, **extra)]
    if match_jpeg and cfg.eval.match_jpeg and teacher is not None:
        quality, _ = match_jpeg_quality(kept, metrics["bytes_mean"])
        offload = evaluate_jpeg_offload(teacher, test, run, quality=quality, teacher=teacher,
                                        jpeg_quality=cfg.eval.jpeg_quality)
        rows.append(_row("jpeg_offload", cfg, offload, channels=channels,
                         matched_to=method, matched_bytes=metrics["bytes_mean"]))
    return rows


def _finish(cfg: TrainConfig, run: RunContext, method: str, rows: list[dict[str, Any]]) -> Path:
    path = run.out_dir / "result.json"
    _write_json(path, {"method": method, "config": config_to_dict(cfg), "rows": rows})
    return path


def run_method(method: str, cfg: TrainConfig, run: RunContext) -> Path | None:
    """Train (and evaluate) ``method``; the ``result.json`` path on rank 0 when complete."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    if run.dist.main:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run.out_dir / "config.json", config_to_dict(cfg))
    train, test = load_data(cfg, run)
    rows: list[dict[str, Any]] = []
    complete = True

    if method == "teacher":
        model = _channels_last(build_teacher_model(cfg), run)
        step = _CEStep(model, cfg.teacher.label_smoothing)
        stage = Stage("teacher", model, step, list(model.parameters()), model.train, cfg.teacher)
        complete = fit(stage, train, run, _evaluator(test, run, None))
        if complete and run.dist.main and cfg.eval.enabled:
            rows += _evaluate_model("natural_q8", model, cfg, run, test, model, channels=None,
                                    split=model.info.split)
            rows.append(_teacher_row(rows[-1]))
        return _finish(cfg, run, method, rows) if complete and run.dist.main else None

    teacher = _frozen_teacher(_channels_last(build_teacher_model(cfg), run))

    if method == "natural":
        if run.dist.main and cfg.eval.enabled:
            rows += _evaluate_model("natural_q8", teacher, cfg, run, test, teacher,
                                    channels=None, split=teacher.info.split)
            return _finish(cfg, run, method, rows)
        return None

    if method == "autoencoder":
        split = cfg.model.autoencoder_split or None
        base = teacher if split is None else _frozen_teacher(
            _channels_last(build_teacher_model(cfg, split=split), run))
        ae = _channels_last(AutoencoderSplit(base, cfg.model.bottleneck_channels,
                                             cfg.model.autoencoder_hidden), run)
        params = [*ae.encoder.parameters(), *ae.decoder.parameters()]
        stage = Stage("autoencoder", ae, _AutoencoderStep(ae), params, ae.train, cfg.autoencoder)
        complete = fit(stage, train, run, _evaluator(test, run, teacher))
        if complete and run.dist.main and cfg.eval.enabled:
            rows += _evaluate_model("autoencoder", ae, cfg, run, test, teacher,
                                    channels=cfg.model.bottleneck_channels,
                                    split=ae.info.split)
        return _finish(cfg, run, method, rows) if complete and run.dist.main else None

    student = _channels_last(build_student(cfg, teacher), run)
    evaluate = _evaluator(test, run, teacher)

    if method == "naive":
        params, mode = _student_mode(student, cfg.naive.freeze)
        stage = Stage("naive", student, _CEStep(student, cfg.naive.label_smoothing), params, mode,
                      cfg.naive)
        complete = fit(stage, train, run, evaluate)
        if complete and run.dist.main and cfg.eval.enabled:
            rows += _evaluate_model("naive", student, cfg, run, test, teacher,
                                    channels=cfg.model.bottleneck_channels)
        return _finish(cfg, run, method, rows) if complete and run.dist.main else None

    if method in ("bottlefit", "stage1"):
        student.requires_grad_(False)
        for m in student.bottleneck_modules():
            m.requires_grad_(True)

        def stage1_mode() -> None:
            student.eval()
            for m in student.bottleneck_modules():
                m.train()

        stage = Stage("stage1", student, _HeadDistillationStep(student, teacher),
                      list(student.bottleneck_parameters()), stage1_mode, cfg.stage1)
        complete = fit(stage, train, run, evaluate)
        stage1_json = run.out_dir / "stage1_result.json"
        if complete and run.dist.main and cfg.eval.enabled:
            if stage1_json.is_file():
                rows += json.loads(stage1_json.read_text())
            else:
                found = _evaluate_model("bottlefit_stage1", student, cfg, run, test, teacher,
                                        channels=cfg.model.bottleneck_channels,
                                        match_jpeg=method == "stage1")
                _write_json(stage1_json, found)
                rows += found
        if not complete or method == "stage1":
            return _finish(cfg, run, method, rows) if complete and run.dist.main else None

    if method == "stage2":
        stage1_pt = run.out_dir / "stage1.pt"
        if not stage1_pt.is_file():
            raise FileNotFoundError(f"stage2 starts from {stage1_pt}: run stage1 first")
        student.load_state_dict(torch.load(stage1_pt, map_location=run.device, weights_only=True))

    s2 = cfg.stage2
    params, mode = _student_mode(student, s2.freeze)
    step: nn.Module = (_CEStep(student, s2.label_smoothing) if s2.loss == "ce" else
                       _KDStep(student, teacher, s2.kd_alpha, s2.kd_temperature,
                               s2.label_smoothing))
    stage = Stage("stage2", student, step, params, mode, s2)
    complete = fit(stage, train, run, evaluate)
    if complete and run.dist.main and cfg.eval.enabled:
        rows += _evaluate_model("bottlefit", student, cfg, run, test, teacher,
                                channels=cfg.model.bottleneck_channels, match_jpeg=True)
    return _finish(cfg, run, method, rows) if complete and run.dist.main else None


def evaluate_weights(cfg: TrainConfig, run: RunContext, weights: str = "default", *,
                     method: str = "bottlefit") -> Path | None:
    """Evaluate a saved student: a run's ``.pt``, an ``export`` file, or the packaged one
    (``"default"``)."""
    if not run.dist.main:
        return None
    _, test = load_data(cfg, run, train=False)
    teacher = _frozen_teacher(_channels_last(build_teacher_model(cfg), run))
    if weights == "default":
        student = build_split_model(cfg.model.name,
                                    bottleneck_channels=cfg.model.bottleneck_channels,
                                    weights="default", num_classes=cfg.model.num_classes,
                                    input_size=cfg.model.input_size)
    elif "meta" in (obj := torch.load(weights, map_location="cpu", weights_only=True)):
        # an exported bottleneck (``export``): the teacher's layers + these tensors
        cfg.model.decoder_channels = int(obj["meta"]["decoder_channels"])
        cfg.model.encoder = str(obj["meta"].get("encoder", "bottlefit"))
        cfg.model.encoder_width = int(obj["meta"].get("encoder_width", 0))
        cfg.model.student_init = str(weights)
        student = build_student(cfg, teacher)
    else:  # a whole saved student (a run's stage1.pt / stage2.pt): its own widths and encoder
        student = build_split_model(
            cfg.model.name, bottleneck_channels=cfg.model.bottleneck_channels, weights=obj,
            num_classes=cfg.model.num_classes, input_size=cfg.model.input_size)
    student = _channels_last(student, run)
    rows = _evaluate_model(method, student, cfg, run, test, teacher,
                           channels=cfg.model.bottleneck_channels, match_jpeg=True,
                           weights=str(weights))
    path = run.out_dir / "result.json"
    _write_json(path, {"method": method, "config": config_to_dict(cfg), "rows": rows})
    return path
