"""BottleFit's bottleneck: a small encoder (robot) and its decoder (edge).

Architecture from Matsubara et al., "BottleFit: Learning Compressed Representations
in Deep Neural Networks for Effective and Efficient Split Computing", IEEE WoWMoM
2022 (arXiv 2201.02693), as the authors' public configurations build it for
ResNet-152 (decoder output 512x28x28, stride 8) and DenseNet-169/201 (256x14x14,
stride 16). Layer order and indices follow those configurations, so
``bottleneck.encoder.<i>`` / ``bottleneck.decoder.<i>`` keys match them.

Spatial sizes (input side ``S`` divisible by 8, or 16 for the stride-16 decoder):
the encoder gives ``S/8 + 1`` (29 at 224), the decoder's 2x2 convolutions with
padding 1, 1, 0, 0[, 0] and its final 2x2 average pool bring that back to exactly
``S/8`` (stride 8) or ``S/16`` (stride 16): the size the teacher's replaced layers
produce for the same input. Nothing is hard-coded to 224; for these sizes the fixed
pools equal an ``AdaptiveAvgPool2d`` to the teacher's size.

The authors' encoder was sized for ResNet-152 and DenseNet (2-6 % of their FLOPs); on
a mobile teacher such as EfficientNet-Lite0 it costs more than the teacher's own layers
up to the split. The ``light`` family (:func:`light_encoder`, :func:`light_decoder`)
is sized for such teachers: the head keeps the teacher's own first layers, frozen and
exact (for Lite0 the stem and ``blocks.0``, 16 x 112 x 112 at 224, about 5 % of its
FLOPs), then a depthwise-separable strided encoder down to C x S/8 x S/8; the decoder
on the edge is a stack of residual depthwise-separable blocks at that resolution.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ENCODERS", "LIGHT_ENCODER_WIDTH", "bottleneck_decoder", "bottleneck_encoder",
           "light_decoder", "light_encoder"]

ENCODERS = ("bottlefit", "light")
"""Encoder families: the authors' (``bottlefit``) and the one sized for mobile teachers."""

LIGHT_ENCODER_WIDTH = 96
"""Channels inside the light encoder (its cost: about 13 MFLOPs at 224 for Lite0)."""


def bottleneck_encoder(bottleneck_channels: int) -> nn.Sequential:
    """The head: Conv(3->64,k7,s2,p3) BN ReLU MaxPool(k3,s2,p1) BN ReLU Conv(64->C,k2,s2,p1).

    Its output, C x (S/8+1) x (S/8+1), is the tensor sent to the edge.
    """
    if bottleneck_channels < 1:
        raise ValueError(f"bottleneck_channels must be >= 1, got {bottleneck_channels}")
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.Conv2d(64, bottleneck_channels, kernel_size=2, stride=2, padding=1, bias=False),
    )


def bottleneck_decoder(bottleneck_channels: int, out_channels: int, *, reduction: int = 8,
                       hidden_channels: int = 512) -> nn.Sequential:
    """The first part of the tail: maps the bottleneck to the replaced layers' output.

    ``reduction`` is the stride of that output w.r.t. the input: 8 (ResNet
    ``layer2``; also used for MobileNetV2 and EfficientNet-Lite) or 16 (DenseNet
    ``transition2``). With ``hidden_channels=512`` and ``out_channels`` 512/256 the
    layers are the authors' ResNet-152/DenseNet decoders.
    """
    c, h, t = bottleneck_channels, hidden_channels, out_channels

    def conv(cin: int, cout: int, padding: int) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, kernel_size=2, stride=1, padding=padding, bias=False)

    if reduction == 8:
        layers: list[nn.Module] = [
            nn.BatchNorm2d(c), nn.ReLU(inplace=True), conv(c, h, 1),
            nn.BatchNorm2d(h), nn.ReLU(inplace=True), conv(h, h, 1),
            nn.BatchNorm2d(h), nn.ReLU(inplace=True), conv(h, h, 0),
            nn.BatchNorm2d(h), nn.ReLU(inplace=True), conv(h, t, 0),
            nn.AvgPool2d(kernel_size=2, stride=1),
        ]
    elif reduction == 16:
        layers = [
            nn.BatchNorm2d(c), nn.ReLU(inplace=True), conv(c, h, 1),
            nn.BatchNorm2d(h), nn.ReLU(inplace=True), conv(h, h, 1),
            nn.BatchNorm2d(h), nn.ReLU(inplace=True), conv(h, t, 0),
            nn.BatchNorm2d(t), nn.ReLU(inplace=True), conv(t, t, 0),
            nn.BatchNorm2d(t), nn.ReLU(inplace=True), conv(t, t, 0),
            nn.AvgPool2d(kernel_size=2, stride=2),
        ]
    else:
        raise ValueError(f"the bottleneck decoder supports reduction 8 or 16, got {reduction}")
    return nn.Sequential(*layers)


def light_encoder(in_channels: int, bottleneck_channels: int, *, downsample: int,
                  width: int = LIGHT_ENCODER_WIDTH) -> nn.Sequential:
    """The learned part of a light head, after the teacher's kept first layers.

    ``downsample`` stride-2 depthwise 3x3 convolutions (the first followed by a
    pointwise ``in_channels -> width``), then a pointwise ``width -> C`` whose output
    is the tensor sent to the edge: ``C x H/2^downsample x W/2^downsample``.
    """
    if bottleneck_channels < 1:
        raise ValueError(f"bottleneck_channels must be >= 1, got {bottleneck_channels}")
    if downsample < 1:
        raise ValueError(f"the light encoder downsamples at least once, got {downsample}")
    layers: list[nn.Module] = []
    cin = in_channels
    for i in range(downsample):
        layers += [nn.Conv2d(cin, cin, 3, stride=2, padding=1, groups=cin, bias=False),
                   nn.BatchNorm2d(cin)]
        if i == 0:
            layers += [nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)]
            cin = width
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Conv2d(cin, bottleneck_channels, 1, bias=True))
    return nn.Sequential(*layers)


class _ResidualDS(nn.Module):
    """x + BN(pw(ReLU(BN(dw3x3(x))))), then ReLU: one residual depthwise-separable block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.body(x))


def light_decoder(bottleneck_channels: int, out_channels: int, *, hidden_channels: int = 192,
                  blocks: int = 3) -> nn.Sequential:
    """The edge side of a light bottleneck, at the bottleneck's resolution.

    Conv 3x3 ``C -> hidden`` BN ReLU, ``blocks`` residual depthwise-separable blocks,
    then a pointwise ``hidden -> out_channels`` (with bias: the teacher stage it
    reproduces ends in a linear projection + BatchNorm). ``decoder.0.weight`` has
    ``hidden`` output channels (how a checkpoint's width is read back).
    """
    h = hidden_channels
    layers: list[nn.Module] = [nn.Conv2d(bottleneck_channels, h, 3, padding=1, bias=False),
                               nn.BatchNorm2d(h), nn.ReLU(inplace=True)]
    layers += [_ResidualDS(h) for _ in range(blocks)]
    layers.append(nn.Conv2d(h, out_channels, 1, bias=True))
    return nn.Sequential(*layers)
