"""The autoencoder baseline: an encoder/decoder pair inserted at a natural split point
of an unchanged teacher (the "autoencoder-based split computing" that BottleFit is
compared with: the head keeps all of the teacher's early layers, plus the encoder).

The pair is trained with the teacher frozen, on the same feature losses as head
distillation: the reconstruction at the split and the outputs of every later stage.
It exposes the split API of :class:`~bottlefit_ros.models.SplitModel`
(``encode``/``decode``/``head``/``info``) so the evaluation treats it alike.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn

from bottlefit_ros.models import SplitInfo, SplitModel

__all__ = ["AutoencoderSplit"]


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)


class AutoencoderSplit(nn.Module):
    """``teacher.head -> encoder`` on the robot, ``decoder -> teacher.tail`` on the edge.

    ``encoder``: Conv3x3(Cs -> hidden) BN ReLU Conv3x3(hidden -> C); ``decoder``: BN ReLU
    Conv3x3(C -> hidden) BN ReLU Conv3x3(hidden -> Cs), where Cs is the split tensor's
    channel count; the spatial size is kept, so the tensor sent is C x H x W of the split.
    """

    def __init__(self, teacher: SplitModel, channels: int, hidden: int = 64) -> None:
        super().__init__()
        if teacher.info.kind != "natural":
            raise ValueError("the autoencoder goes into a natural split of the teacher")
        if channels < 1 or hidden < 1:
            raise ValueError(f"channels and hidden must be >= 1, got {channels}, {hidden}")
        cs = teacher.info.head_output_shape[0]
        self.teacher = teacher
        self.encoder = nn.Sequential(_conv(cs, hidden), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
                                     _conv(hidden, channels))
        self.decoder = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                                     _conv(channels, hidden), nn.BatchNorm2d(hidden),
                                     nn.ReLU(inplace=True), _conv(hidden, cs))
        _, h, w = teacher.info.head_output_shape
        head_params = sum(p.numel() for p in (*teacher.head.parameters(), *self.encoder.parameters()))
        tail_params = sum(p.numel() for p in (*teacher.tail.parameters(), *self.decoder.parameters()))
        self.info: SplitInfo = dataclasses.replace(
            teacher.info, split=f"autoencoder@{teacher.info.split}", bottleneck_channels=channels,
            head_output_shape=(channels, h, w), head_params=head_params, tail_params=tail_params)

    @property
    def head(self) -> nn.Sequential:
        """The robot's part: the teacher's head, then the encoder."""
        return nn.Sequential(self.teacher.head, self.encoder)

    @property
    def stages(self):  # noqa: ANN201 - the teacher's StageInfo tuple
        return self.teacher.stages

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(self.teacher.head(x))

    def decode(self, z: Tensor) -> Tensor:
        return self.teacher.tail(self.decoder(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def feature_outputs(self, x: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``(autoencoder, teacher)`` outputs at the split and every later stage."""
        split = self.teacher.head(x)
        recon = self.decoder(self.encoder(split))
        names = [s for s in self.teacher.stages if s.module not in self.teacher.head.paths]
        capture = {s.module: s.name for s in names}
        first = self.teacher.stages[0].name
        ours: dict[str, Tensor] = {first: recon}
        ref: dict[str, Tensor] = {first: split.detach()}
        if capture:
            self.teacher.tail.run(recon, capture, ours, stop_when_done=True)
            with _no_grad():
                self.teacher.tail.run(split.detach(), capture, ref, stop_when_done=True)
        return ours, {k: v.detach() for k, v in ref.items()}

    def train(self, mode: bool = True) -> AutoencoderSplit:
        """Only the pair trains; the teacher stays in eval mode (frozen statistics)."""
        super().train(mode)
        self.teacher.eval()
        return self


def _no_grad():  # noqa: ANN202
    import torch

    return torch.no_grad()
