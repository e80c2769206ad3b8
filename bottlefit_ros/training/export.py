"""A trained run's bottleneck as a packaged student file (what ``models/data`` ships).

Only the tensors training changed are kept: ``bottleneck.encoder.*`` (head) and
``bottleneck.decoder.*`` (tail), as float16 by default (half the size; check the
agreement after conversion with ``python -m bottlefit_ros.training evaluate``). The
teacher's kept layers come from its own packaged weights when the student is built,
so they must not have changed: export refuses a run whose stage 2 trained them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

__all__ = ["export_student"]


def export_student(run_dir: str | os.PathLike[str], out: str | os.PathLike[str], *,
                   dtype: str = "float16") -> Path:
    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text())
    weights = next((run / n for n in ("stage2.pt", "stage1.pt") if (run / n).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"{run}: neither stage2.pt nor stage1.pt")
    if weights.name == "stage2.pt" and cfg["stage2"]["epochs"] > 0 \
            and "tail" not in cfg["stage2"]["freeze"]:
        raise ValueError(f"{run}: stage 2 trained the teacher's layers (stage2.freeze lacks "
                         f"'tail'); a packaged student holds only the bottleneck")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    keep = {k: v for k, v in state.items() if k.startswith(("head.bottleneck.", "tail.bottleneck."))}
    if not keep:
        raise ValueError(f"{weights}: no bottleneck tensors (not a BottleFit student)")
    to = getattr(torch, dtype)
    packed = {k: (v.to(to) if v.is_floating_point() else v) for k, v in keep.items()}
    meta = {"model": cfg["model"]["name"],
            "bottleneck_channels": cfg["model"]["bottleneck_channels"],
            "decoder_channels": cfg["model"]["decoder_channels"],
            "encoder": cfg["model"].get("encoder") or "bottlefit",
            "encoder_width": int(cfg["model"].get("encoder_width") or 0),
            "input_size": cfg["model"]["input_size"], "dtype": dtype, "source": weights.name}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": packed, "meta": meta}, out)
    return out
