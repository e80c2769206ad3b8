"""A network cut in two: the head runs on the robot, the tail on the edge."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from torch import Tensor, nn

from .checkpoint import WeightsReport, WeightsSource, load_weights
from .fingerprint import fingerprint_module
from .segment import Segment

if TYPE_CHECKING:
    from .preprocessing import Preprocessor

__all__ = ["SplitInfo", "SplitModel", "StageInfo", "stage_outputs"]

SplitKind = Literal["natural", "bottleneck"]


@dataclass(frozen=True)
class SplitInfo:
    """What was split and how; shapes are per sample for ``input_size``."""

    model: str
    split: str
    kind: SplitKind
    bottleneck_channels: int | None
    input_size: tuple[int, int]
    head_output_shape: tuple[int, int, int]
    head_params: int
    tail_params: int
    num_classes: int
    replaces: str | None
    """For a bottleneck model, the teacher stage whose output the decoder reproduces
    (``"layer2"``); its teacher is the natural split there. ``None`` when natural."""
    normalization: str
    """Input normalization the weights expect (see ``preprocessing.NORMALIZATIONS``)."""
    encoder: str | None = None
    """Encoder family of a bottleneck model (``bottleneck.ENCODERS``); ``None`` when natural."""


@dataclass(frozen=True)
class StageInfo:
    """A stage boundary at or after the split, in timm ``feature_info`` style.

    ``name`` is the teacher's module path of the stage (``"layer3"``); ``module`` is
    the module that produces that output in this model: the same path, except for
    the first stage of a bottleneck model, which the decoder produces
    (``"bottleneck.decoder"`` for ``"layer2"``). A student and its teacher share
    stage names, so head distillation compares outputs name by name.
    """

    name: str
    module: str
    channels: int
    reduction: int


class SplitModel(nn.Module):
    """``head`` (robot) and ``tail`` (edge) of a classifier; ``forward = decode(encode(x))``.

    Built in eval mode by :func:`build_split_model`. Both parts keep the teacher's
    module names, so ``split.head.state_dict()`` has keys like ``conv1.weight``.
    ``replaced_modules`` lists the teacher modules a bottleneck replaced (ignored
    when a teacher checkpoint is loaded); ``classifier_path`` names the final layer.
    """

    def __init__(self, head: Segment, tail: Segment, info: SplitInfo,
                 stages: Sequence[StageInfo], *, replaced_modules: Sequence[str] = (),
                 classifier_path: str) -> None:
        super().__init__()
        self.head = head
        self.tail = tail
        self.info = info
        self.stages: tuple[StageInfo, ...] = tuple(stages)
        self.replaced_modules: tuple[str, ...] = tuple(replaced_modules)
        self.classifier_path = classifier_path
        self._fingerprint: tuple[tuple[tuple[int, int, int], ...], str] | None = None

    def encode(self, x: Tensor) -> Tensor:
        """Robot side: image batch (N, 3, H, W) -> tensor to transmit."""
        return self.head(x)

    def decode(self, z: Tensor) -> Tensor:
        """Edge side: transmitted tensor -> logits (N, num_classes)."""
        return self.tail(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.head(x))

    def load_weights(self, source: WeightsSource) -> WeightsReport:
        """Load a teacher or SplitModel checkpoint (path or state_dict); see ``checkpoint``."""
        return load_weights(self, source)

    @property
    def head_fingerprint(self) -> str:
        """:func:`fingerprint_module` of the head, cached.

        The cache is keyed on each head tensor's identity and in-place version
        counter, so optimizer steps and ``load_state_dict`` refresh it. Writes that
        bypass the counter (``param.data = ...``, ``param.data.copy_(...)``) do not:
        call :meth:`refresh_head_fingerprint` after those. A model built under
        ``torch.inference_mode()`` has no counters and is hashed on every access.
        """
        key = self._head_version_key()
        if key is None:  # inference tensors carry no version counter: no caching
            return fingerprint_module(self.head)
        if self._fingerprint is None or self._fingerprint[0] != key:
            self._fingerprint = (key, fingerprint_module(self.head))
        return self._fingerprint[1]

    def _head_version_key(self) -> tuple[tuple[int, int, int], ...] | None:
        key = []
        for t in self.head.state_dict(keep_vars=True).values():
            if t.is_inference():
                return None
            key.append((id(t), t.data_ptr(), t._version))
        return tuple(key)

    def refresh_head_fingerprint(self) -> str:
        """Recompute :attr:`head_fingerprint` unconditionally."""
        self._fingerprint = None
        return self.head_fingerprint

    @property
    def preprocessor(self) -> Preprocessor:
        """A new :class:`Preprocessor` for this model's input size and normalization."""
        from .preprocessing import Preprocessor

        return Preprocessor.for_model(self)

    def bottleneck_modules(self) -> tuple[nn.Module, ...]:
        """``(encoder, decoder)`` of a bottleneck model; ``()`` for a natural split."""
        if self.info.kind != "bottleneck":
            return ()
        return (self.head.get_submodule("bottleneck.encoder"),
                self.tail.get_submodule("bottleneck.decoder"))

    def bottleneck_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the encoder and decoder (what head distillation trains)."""
        for module in self.bottleneck_modules():
            yield from module.parameters()


def stage_outputs(model: SplitModel, x: Tensor, names: Iterable[str] | None = None,
                  ) -> dict[str, Tensor]:
    """Outputs at ``model.stages`` (or the named subset) for input ``x``, keyed by stage name.

    Runs the model only as far as the last requested stage. For a student and the
    teacher from :func:`build_teacher`, the keys are the same, so BottleFit's head
    distillation loss is ``sum(mse_loss(s[k], t[k], reduction="sum") for k in t)``.
    """
    wanted = {s.name: s for s in model.stages}
    requested = list(wanted) if names is None else list(names)
    unknown = [n for n in requested if n not in wanted]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages of this model: {list(wanted)}")
    capture = {wanted[n].module: n for n in requested}
    out: dict[str, Tensor] = {}
    if not capture:
        return out
    head_capture = {p: n for p, n in capture.items() if p in model.head.paths}
    tail_capture = {p: n for p, n in capture.items() if p not in head_capture}
    z = model.head.run(x, head_capture, out, stop_when_done=not tail_capture)
    if tail_capture:
        model.tail.run(z, tail_capture, out, stop_when_done=True)
    return out
