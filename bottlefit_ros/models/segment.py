"""An ordered run of a network's layers that keeps the teacher's module paths."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

__all__ = ["Segment", "Step"]


@dataclass(frozen=True, eq=False)
class Step:
    """One layer of a teacher's forward pass, in order.

    ``path`` is the module path the layer has in the teacher (``"layer2"``,
    ``"features.denseblock2"``), so that a :class:`Segment` holding it produces
    the same state_dict keys as the teacher. ``kwargs`` are passed on every call
    (EfficientNet-Lite blocks take their index-dependent ``drop_connect_rate``).
    """

    path: str
    module: nn.Module
    kwargs: Mapping[str, Any] = field(default_factory=dict)


class _Container(nn.Module):
    """A parameter-free parent that only gives nested paths (``features.7``) a home.

    Indexable like the teacher's ``nn.Sequential``: ``tail.blocks[10]``, ``head.features["7"]``.
    """

    def __getitem__(self, key: int | str) -> nn.Module:
        try:
            return self._modules[str(key)]  # type: ignore[return-value]
        except KeyError:
            raise KeyError(f"no child {key!r}; children: {', '.join(self._modules)}") from None

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, *args: Any) -> Any:  # pragma: no cover - never called
        raise RuntimeError("a path container is not callable; call the Segment")


class Segment(nn.Module):
    """Run ``steps`` one after the other; ``state_dict`` keys are the steps' paths.

    Layers are looked up by path on every call, so replacing one after
    construction (``segment.fc = nn.Linear(...)``) takes effect.
    """

    def __init__(self, steps: Iterable[Step]) -> None:
        super().__init__()
        self._paths: list[str] = []
        self._kwargs: list[dict[str, Any]] = []
        for step in steps:
            parent: nn.Module = self
            *parents, leaf = step.path.split(".")
            for part in parents:
                child = parent._modules.get(part)
                if child is None:
                    child = _Container()
                    parent.add_module(part, child)
                parent = child
            if leaf in parent._modules:
                raise ValueError(f"duplicate step path {step.path!r}")
            parent.add_module(leaf, step.module)
            self._paths.append(step.path)
            self._kwargs.append(dict(step.kwargs))

    @property
    def paths(self) -> tuple[str, ...]:
        """Module paths of the steps, in execution order."""
        return tuple(self._paths)

    def forward(self, x: Tensor) -> Tensor:
        for path, kwargs in zip(self._paths, self._kwargs):
            x = self.get_submodule(path)(x, **kwargs)
        return x

    def run(self, x: Tensor, capture: Mapping[str, str], out: dict[str, Tensor],
            stop_when_done: bool = False) -> Tensor:
        """Forward pass that stores the output of step ``path`` in ``out[capture[path]]``.

        With ``stop_when_done`` the pass ends after the last captured step and
        returns that step's output.
        """
        remaining = sum(1 for p in self._paths if p in capture)
        for path, kwargs in zip(self._paths, self._kwargs):
            x = self.get_submodule(path)(x, **kwargs)
            name = capture.get(path)
            if name is not None:
                out[name] = x
                remaining -= 1
                if stop_when_done and remaining == 0:
                    break
        return x
