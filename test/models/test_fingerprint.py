from __future__ import annotations

import re

import torch

from bottlefit_ros.models import build_split_model, fingerprint_module


def test_fingerprint_is_stable_and_tracks_weight_changes(make_stock) -> None:
    state = make_stock("resnet18").state_dict()
    first = build_split_model("resnet18", weights=state, input_size=64)
    second = build_split_model("resnet18", weights=state, input_size=64)
    digest = first.head_fingerprint
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert second.head_fingerprint == digest == fingerprint_module(first.head)
    assert fingerprint_module(first.tail) == fingerprint_module(second.tail) != digest

    with torch.no_grad():
        first.head.layer1[0].conv1.weight[0, 0, 0, 0] += 1e-3  # in place: cache notices
    assert first.head_fingerprint != digest
    first.load_weights(state)
    assert first.head_fingerprint == digest


def test_fingerprint_covers_dtype_and_names() -> None:
    a = torch.nn.Linear(2, 2)
    b = torch.nn.Linear(2, 2)
    b.load_state_dict(a.state_dict())
    assert fingerprint_module(a) == fingerprint_module(b)
    assert fingerprint_module(a) != fingerprint_module(b.double())
    assert fingerprint_module(a) != fingerprint_module(torch.nn.Sequential(a))
