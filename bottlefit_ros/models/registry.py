"""Model registry, in the style of torchvision ``models/_api.py``.

Builders are lowercase functions with keyword-only options returning a
:class:`SplitModel`; :func:`register_model` adds one and refuses a taken name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .builder import InputSize, Weights, build_from_spec
from .split_model import SplitModel
from .teacher import TeacherSpec

__all__ = ["build_split_model", "build_teacher", "get_model_builder", "get_model_normalization",
           "list_models", "register_model", "register_spec"]

Builder = Callable[..., SplitModel]
B = TypeVar("B", bound=Builder)

_MODELS: dict[str, Builder] = {}
_NORMALIZATION: dict[str, str] = {}


def register_model(name: str | None = None, *, normalization: str = "imagenet",
                   ) -> Callable[[B], B]:
    """Decorator registering a builder under ``name`` (default: the function's name).

    ``normalization`` names the input scaling its weights expect, so a
    :class:`Preprocessor` can be made without building the model.
    """

    def wrapper(fn: B) -> B:
        key = name if name is not None else fn.__name__
        if key in _MODELS:
            raise ValueError(f"a model is already registered under the name {key!r}")
        _MODELS[key] = fn
        _NORMALIZATION[key] = normalization
        return fn

    return wrapper


def register_spec(spec: TeacherSpec, doc: str) -> Builder:
    """Register, under ``spec.name``, the builder of a teacher the generic
    :func:`build_from_spec` handles; ``doc`` becomes its docstring."""

    def builder(*, split: str | None = None, bottleneck_channels: int | None = None,
                weights: Weights = "default", num_classes: int | None = None,
                input_size: InputSize = (224, 224),
                decoder_channels: int | None = None, encoder: str | None = None,
                encoder_width: int | None = None) -> SplitModel:
        return build_from_spec(spec, split=split, bottleneck_channels=bottleneck_channels,
                               weights=weights, num_classes=num_classes, input_size=input_size,
                               decoder_channels=decoder_channels, encoder=encoder,
                               encoder_width=encoder_width)

    builder.__name__ = builder.__qualname__ = spec.name
    builder.__doc__ = doc
    return register_model(spec.name, normalization=spec.normalization)(builder)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def get_model_builder(name: str) -> Builder:
    """The builder registered as ``name``; ``ValueError`` naming the valid ones otherwise."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: "
                         f"{', '.join(list_models())}") from None


def get_model_normalization(name: str) -> str:
    """Input normalization the named model's weights expect."""
    get_model_builder(name)
    return _NORMALIZATION[name]


def build_split_model(name: str, *, split: str | None = None,
                      bottleneck_channels: int | None = None, weights: Weights = "default",
                      num_classes: int | None = None, input_size: InputSize = (224, 224),
                      decoder_channels: int | None = None, encoder: str | None = None,
                      encoder_width: int | None = None) -> SplitModel:
    """Build a registered model split in two, in eval mode.

    - ``split``: a module path of the teacher (``"layer2"``,
      ``"features.transition2"``, ``"features.6"``, ``"blocks.4"``): head = up to and
      including it, tail = the rest, no retraining. ``None``: the model's default
      (the stage a bottleneck replaces).
    - ``bottleneck_channels=C``: BottleFit student (split ``"bottleneck"``): the
      teacher's early layers are replaced by ``bottleneck.encoder`` (head, C x 29 x 29
      at 224) and ``bottleneck.decoder`` (first part of the tail).
    - ``weights``: ``"default"`` = packaged pretrained weights where they exist
      (EfficientNet-Lite0 only; torchvision teachers get random initialisation),
      ``None`` = random initialisation, or a checkpoint path / state_dict (teacher
      or SplitModel keys; see :func:`load_weights`).
    - ``num_classes``: classifier size; ``None`` = the checkpoint's, else 1000. Another
      size than the checkpoint's replaces the classifier (left initialised).
    - ``input_size``: (H, W) that :class:`SplitInfo` shapes describe; the model
      itself accepts other sizes (bottleneck models: sides divisible by 32).
    - ``decoder_channels``: hidden width of a bottleneck's decoder; ``None`` = the
      packaged student's (``weights="default"`` where one is packaged, see
      :func:`packaged_student`), else the student checkpoint's, else 512 (the authors').
      With ``weights="default"``, a packaged BottleFit student for ``(name, C)`` is
      loaded over the packaged teacher.
    - ``encoder``: the bottleneck's encoder family: ``"bottlefit"`` (the authors',
      from the image) or ``"light"`` (the teacher's own first layers, frozen, then a
      depthwise-separable strided encoder; teachers with a ``light_prefix`` only).
      ``None`` = the packaged student's (``weights="default"``), else the student
      checkpoint's, else ``"bottlefit"``.
    - ``encoder_width``: the light encoder's inner width (its cost on the robot grows
      with it); ``None`` = the student checkpoint's, else 96 (the packaged students').
    """
    builder = get_model_builder(name)
    extra: dict[str, object] = {} if encoder is None else {"encoder": encoder}  # builders without the options
    if encoder_width is not None:
        extra["encoder_width"] = encoder_width
    return builder(split=split, bottleneck_channels=bottleneck_channels, weights=weights,
                   num_classes=num_classes, input_size=input_size,
                   decoder_channels=decoder_channels, **extra)


def build_teacher(model: SplitModel | str, *, weights: Weights = "default",
                  num_classes: int | None = None, input_size: InputSize | None = None,
                  ) -> SplitModel:
    """The teacher matching ``model``, as a natural split with the same stage names.

    For a BottleFit student this is the teacher cut where the bottleneck sits
    (ResNet: ``layer2``), so ``stage_outputs`` of both share keys. ``num_classes``
    and ``input_size`` default to the student's.
    """
    if isinstance(model, str):
        return build_split_model(model, weights=weights, num_classes=num_classes,
                                 input_size=input_size or (224, 224))
    info = model.info
    return build_split_model(info.model, split=info.replaces or info.split, weights=weights,
                             num_classes=num_classes or info.num_classes,
                             input_size=input_size or info.input_size)
