"""Split classifiers for BottleFit split computing (no ROS needed).

A :class:`SplitModel` is a classifier cut in two: ``head`` runs on the robot and
produces a small tensor, ``tail`` runs on the edge and returns logits
(``encode(x)`` / ``decode(z)``). Two kinds, after Matsubara et al., "BottleFit:
Learning Compressed Representations in Deep Neural Networks for Effective and
Efficient Split Computing", IEEE WoWMoM 2022 (arXiv 2201.02693):

- natural split: the teacher cut after a layer, no retraining;
- BottleFit bottleneck: the teacher's early layers replaced by ``bottleneck.encoder``
  (head, C x 29 x 29 at 224) and ``bottleneck.decoder`` (tail), trained in two stages;
  ``encoder="light"`` (EfficientNet-Lite0) keeps the teacher's stem and ``blocks.0`` in
  the head and sends C x 28 x 28 from a depthwise-separable encoder (7 % of the FLOPs).

Use::

    from bottlefit_ros.models import build_split_model, load_labels
    split = build_split_model("efficientnet_lite0")              # packaged ImageNet weights
    x = split.preprocessor(rgb)                                  # uint8 H x W x 3 -> 1x3x224x224
    logits = split.decode(split.encode(x))
    print(split.info, split.head_fingerprint, load_labels(split)[int(logits.argmax())])

``weights`` takes ``"default"`` (packaged weights where they exist: EfficientNet-Lite0
only; torchvision teachers then get random initialisation), ``None`` or a checkpoint
(path or state_dict; stock torchvision keys, or a saved SplitModel / student).
With ``"default"``, a student for which a trained bottleneck is packaged
(:func:`packaged_students`) gets it; ``decoder_channels`` sets the decoder's hidden
width (``None``: the packaged student's or checkpoint's, else 512). The training
pipeline (stages, baselines, evaluation, CLI) is :mod:`bottlefit_ros.training`.

BottleFit training on top of this package::

    import torch
    import torch.nn.functional as F
    from bottlefit_ros.models import build_split_model, build_teacher, stage_outputs

    student = build_split_model("resnet50", bottleneck_channels=12, weights="teacher.pt")
    teacher = build_teacher(student, weights="teacher.pt").requires_grad_(False).eval()

    # Stage 1, head distillation: only encoder + decoder train; the kept teacher
    # layers are frozen (also their BatchNorm statistics). student.stages and
    # teacher.stages share names (ResNet: layer2 [decoder output], layer3, layer4).
    student.requires_grad_(False).eval()
    for module in student.bottleneck_modules():
        module.requires_grad_(True).train()
    optimizer = torch.optim.Adam(student.bottleneck_parameters(), lr=1e-3)
    with torch.no_grad():
        t = stage_outputs(teacher, images)
    s = stage_outputs(student, images)
    loss = sum(F.mse_loss(s[k], t[k], reduction="sum") for k in t)

    # Stage 2, fine-tuning: student.train(); CE or KD on student(images) vs
    # teacher(images); "frozen encoder" variants: head.requires_grad_(False).eval().
    torch.save(student.state_dict(), "student.pt")   # reload: weights="student.pt"

Shapes and stage metadata are data: ``split.info`` (:class:`SplitInfo`) and
``split.stages`` (:class:`StageInfo`). Nothing is loaded or read at import time.
"""

from __future__ import annotations

from . import densenet, efficientnet_lite, mobilenet, resnet  # noqa: F401  (register builders)
from .bottleneck import bottleneck_decoder, bottleneck_encoder
from .checkpoint import WeightsReport, load_weights, read_state_dict, remap_state_dict
from .fingerprint import fingerprint_module
from .labels import FASHION_MNIST_CLASSES, load_labels
from .packaged import PackagedStudent, packaged_student, packaged_students
from .preprocessing import NORMALIZATIONS, Preprocessor
from .registry import (build_split_model, build_teacher, get_model_builder,
                       get_model_normalization, list_models, register_model)
from .segment import Segment, Step
from .split_model import SplitInfo, SplitModel, StageInfo, stage_outputs

__all__ = [
    "FASHION_MNIST_CLASSES",
    "NORMALIZATIONS",
    "PackagedStudent",
    "Preprocessor",
    "Segment",
    "SplitInfo",
    "SplitModel",
    "StageInfo",
    "Step",
    "WeightsReport",
    "bottleneck_decoder",
    "bottleneck_encoder",
    "build_split_model",
    "build_teacher",
    "fingerprint_module",
    "get_model_builder",
    "get_model_normalization",
    "list_models",
    "load_labels",
    "load_weights",
    "packaged_student",
    "packaged_students",
    "read_state_dict",
    "register_model",
    "remap_state_dict",
    "stage_outputs",
]
