"""A short, deterministic digest of a module's weights."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

__all__ = ["fingerprint_module"]


def fingerprint_module(module: nn.Module) -> str:
    """First 16 hex digits of a SHA-256 over the state_dict's names, dtypes, shapes and bytes.

    The same weights give the same digest in every run and on every device, so
    the robot and the edge can check that they hold the same head/tail.
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach()
        header = f"{name}\0{t.dtype}\0{tuple(t.shape)}\0"
        digest.update(header.encode())
        raw = t.cpu().contiguous().reshape(-1).view(torch.uint8)
        digest.update(raw.numpy().data)
    return digest.hexdigest()[:16]
