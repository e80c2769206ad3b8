"""Process group set-up for ``torchrun`` (DistributedDataParallel), and the device choice.

Launched by ``torchrun --nproc-per-node N -m bottlefit_ros.training ...``, every
process reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and joins one group: NCCL on CUDA,
gloo on the CPU. Launched plainly, nothing is initialised and ``world == 1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "barrier", "cleanup", "resolve_device", "setup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Whether this process writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> the local rank's GPU if CUDA is available, else the CPU."""
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def setup(device_name: str = "auto") -> DistInfo:
    """Join the process group if launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world=world, local_rank=local_rank, device=device)


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``value`` over the ranks (the value itself when not distributed)."""
    if not info.distributed:
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value / info.world
