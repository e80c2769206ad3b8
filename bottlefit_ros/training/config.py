"""Training configuration: dataclasses with the authors' defaults, YAML files, overrides.

Layering (ros2_benchmark style): the dataclass defaults below (BottleFit's published
hyperparameters, Matsubara et al., WoWMoM 2022, arXiv 2201.02693), then a YAML file
(which may name a ``base:`` file to start from, relative to itself), then ``--set
key.sub=value`` overrides from the command line (values parsed as YAML). Unknown keys
are errors, naming the valid ones. Plain data only: no YAML tags execute code.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DataConfig", "EvalConfig", "ModelConfig", "OptimConfig", "TrainConfig",
           "config_to_dict", "load_config", "merge_overrides"]


@dataclass
class OptimConfig:
    """One training stage: epochs, optimizer, schedule and loss."""

    epochs: int = 10
    optimizer: str = "adam"            # adam | adamw | sgd
    lr: float = 1e-3
    momentum: float = 0.9              # sgd
    weight_decay: float = 0.0
    schedule: str = "step"             # step | onecycle | cosine | constant
    milestones: list[int] = field(default_factory=lambda: [5])   # step: epochs where lr *= gamma
    gamma: float = 0.1
    loss: str = "hnd"                  # hnd | ce | kd | kd_ce (stage-dependent; see methods)
    kd_alpha: float = 0.5              # kd: alpha * CE + (1 - alpha) * T^2 * KL
    kd_temperature: float = 1.0
    freeze: list[str] = field(default_factory=list)  # of: encoder, decoder, tail (= every
    #                                                   teacher layer the student keeps)
    label_smoothing: float = 0.0
    grad_clip: float = 0.0             # 0 = none


def _stage1() -> OptimConfig:
    # Head distillation: Adam 1e-3, 10 epochs, lr x0.1 after epoch 5, tail frozen.
    return OptimConfig(epochs=10, optimizer="adam", lr=1e-3, milestones=[5], loss="hnd")


def _stage2() -> OptimConfig:
    # Fine-tuning: SGD 1e-3, momentum 0.9, wd 5e-4, 10 epochs, lr x0.1 after epoch 5,
    # KD loss alpha 0.5, T 1 (the authors' CE-only and frozen-encoder variants are options).
    return OptimConfig(epochs=10, optimizer="sgd", lr=1e-3, momentum=0.9, weight_decay=5e-4,
                       milestones=[5], loss="kd", kd_alpha=0.5, kd_temperature=1.0)


def _naive() -> OptimConfig:
    # Naive baseline: the same student trained end to end with cross-entropy only,
    # for as many epochs as both BottleFit stages together.
    return OptimConfig(epochs=20, optimizer="adam", lr=1e-3, milestones=[10, 15], loss="ce")


def _teacher() -> OptimConfig:
    # Teachers trained from scratch (Fashion-MNIST): SGD + one-cycle.
    return OptimConfig(epochs=10, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
                       schedule="onecycle", milestones=[], loss="ce")


def _autoencoder() -> OptimConfig:
    # Autoencoder baseline: an encoder/decoder pair at a natural split of the frozen
    # teacher, trained with the same feature losses as head distillation.
    return OptimConfig(epochs=10, optimizer="adam", lr=1e-3, milestones=[5], loss="hnd")


@dataclass
class ModelConfig:
    name: str = "resnet152"
    bottleneck_channels: int = 12
    encoder: str = ""                   # bottlefit (the authors') | light; "" = bottlefit
    decoder_channels: int = 512         # the authors' decoder width
    encoder_width: int = 0              # light encoder's inner width; 0 = its default (96)
    num_classes: int = 1000
    input_size: int = 224               # bottleneck students: divisible by 32
    teacher_weights: str = "default"    # "default" (packaged, Lite0 only), a path, or ""
    student_init: str = ""              # start from a packaged/exported bottleneck file ("" = new)
    autoencoder_split: str = ""         # "" = the stage the bottleneck replaces
    autoencoder_hidden: int = 64        # width of the autoencoder's inner layers


@dataclass
class DataConfig:
    source: str = "image_folder"        # image_folder | fashion_mnist | folder | rosbag | samples
    root: str = ""                      # dataset folder, idx folder, image folder or bag
    eval_root: str = ""                 # evaluation set: image_folder val/, held-out photos
    eval_source: str = ""               # "" = same kind as source; folder | samples | rosbag
    topic: str = ""                     # rosbag: image topic ("" = every image topic)
    every_n: int = 1                    # rosbag: keep every n-th image
    exclude: list[str] = field(default_factory=list)  # file names kept out of training
    max_side: int = 512                 # label-free images are shrunk to this longer side
    batch_size: int = 64
    eval_batch_size: int = 256
    augment: str = "standard"           # none | standard (crop + flip) | strong (+ colour)
    min_scale: float = 0.08             # RandomResizedCrop lower area bound
    steps_per_epoch: int = 0            # label-free sources: batches per epoch (0: len/batch)
    limit_train: int = 0                # 0 = all
    limit_eval: int = 0
    eval_views: str = "crops"           # label-free evaluation: center | crops
    workers: int = 4                    # image_folder DataLoader workers
    on_device: bool = True              # in-memory sources: keep images on the GPU


@dataclass
class EvalConfig:
    codec: str = "q8+zstd"              # bottlefit_ros.codec.CODECS
    level: int = 3                      # zstd level
    jpeg_quality: int = 95              # the JPEG reference the rate is compared with
    match_jpeg: bool = True             # also evaluate JPEG offload at matched bytes
    match_images: int = 500             # images used to find the matching JPEG quality
    enabled: bool = True


@dataclass
class TrainConfig:
    name: str = "bottlefit"
    out_dir: str = "runs/bottlefit"
    seed: int = 0
    device: str = "auto"                # auto | cpu | cuda | cuda:N
    amp: bool = True                    # bf16 autocast on CUDA
    channels_last: bool = True          # on CUDA
    threads: int = 0                    # torch CPU threads, 0 = default
    progress: str = "auto"              # auto (on a TTY) | on | off
    resume: bool = True                 # continue from <out_dir>/<stage>.ckpt if present
    eval_every: int = 1                 # epochs between quick evaluations (0 = only at the end)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    teacher: OptimConfig = field(default_factory=_teacher)
    stage1: OptimConfig = field(default_factory=_stage1)
    stage2: OptimConfig = field(default_factory=_stage2)
    naive: OptimConfig = field(default_factory=_naive)
    autoencoder: OptimConfig = field(default_factory=_autoencoder)
    eval: EvalConfig = field(default_factory=EvalConfig)


def _from_mapping(cls: type, values: Mapping[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(f"unknown configuration key {where + str(key)!r}; valid keys: "
                             f"{', '.join(fields)}")
        f = fields[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}{key} must be a mapping, got {value!r}")
            kwargs[key] = _from_mapping(type(default), value, f"{where}{key}.")
        else:
            kwargs[key] = _coerce(value, default, f"{where}{key}")
    return cls(**kwargs)


def _coerce(value: Any, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return float(value)
    if isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(default, str):
        if isinstance(value, bool):  # YAML 1.1 reads on/off/yes/no as booleans
            return "on" if value else "off"
        return "" if value is None else str(value)
    if isinstance(default, list):
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        return list(value)
    raise ValueError(f"{name} must be of type {type(default).__name__}, got {value!r}")


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ValueError(f"configuration files include each other: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"configuration file not found: {path}")
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a configuration file holds a mapping, got {type(data).__name__}")
    base = data.pop("base", None)
    if base:
        data = _deep_merge(_read_yaml(path.parent / str(base), (*seen, path)), data)
    return data


def merge_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a config mapping."""
    out = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"an override is KEY=VALUE (e.g. stage1.epochs=2), got {item!r}")
        value = yaml.safe_load(raw) if raw != "" else ""
        node: dict[str, Any] = {}
        leaf = node
        parts = key.strip().split(".")
        for part in parts[:-1]:
            leaf[part] = {}
            leaf = leaf[part]
        leaf[parts[-1]] = value
        out = _deep_merge(out, node)
    return out


def load_config(path: str | os.PathLike[str] | None = None,
                overrides: Iterable[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file at ``path`` (and its ``base:``), then ``overrides``."""
    data = _read_yaml(Path(path)) if path else {}
    data = merge_overrides(data, overrides)
    cfg = _from_mapping(TrainConfig, data, "")
    _validate(cfg)
    return cfg


def _validate(cfg: TrainConfig) -> None:
    for stage in ("teacher", "stage1", "stage2", "naive", "autoencoder"):
        s: OptimConfig = getattr(cfg, stage)
        if s.epochs < 0:
            raise ValueError(f"{stage}.epochs must be >= 0, got {s.epochs}")
        if s.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"{stage}.optimizer must be adam, adamw or sgd, got {s.optimizer!r}")
        if s.schedule not in ("step", "onecycle", "cosine", "constant"):
            raise ValueError(f"{stage}.schedule must be step, onecycle, cosine or constant, "
                             f"got {s.schedule!r}")
        bad = [f for f in s.freeze if f not in ("encoder", "decoder", "tail")]
        if bad:
            raise ValueError(f"{stage}.freeze takes encoder, decoder, tail; got {bad}")
        if not 0.0 <= s.kd_alpha <= 1.0:
            raise ValueError(f"{stage}.kd_alpha must be in [0, 1], got {s.kd_alpha}")
    if cfg.model.encoder not in ("", "bottlefit", "light"):
        raise ValueError(f"model.encoder must be bottlefit or light, got {cfg.model.encoder!r}")
    if cfg.data.augment not in ("none", "standard", "strong"):
        raise ValueError(f"data.augment must be none, standard or strong, got {cfg.data.augment!r}")
    if cfg.data.batch_size < 1 or cfg.data.eval_batch_size < 1:
        raise ValueError("data.batch_size and data.eval_batch_size must be >= 1")
    if cfg.progress not in ("auto", "on", "off"):
        raise ValueError(f"progress must be auto, on or off, got {cfg.progress!r}")


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved configuration as plain data (what is written beside the results)."""
    return dataclasses.asdict(cfg)
