"""export_student: a run's bottleneck as a student file, and that file built back
with the widths its meta names (the path student_eval and ``evaluate`` take)."""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from bottlefit_ros.models import build_split_model
from bottlefit_ros.training.config import TrainConfig
from bottlefit_ros.training.export import export_student

pytest.importorskip("efficientnet_lite_pytorch")


def _run(tmp_path, *, encoder_width: int, freeze: list[str]):
    cfg = TrainConfig()
    cfg.model.name, cfg.model.encoder = "efficientnet_lite0", "light"
    cfg.model.bottleneck_channels, cfg.model.decoder_channels = 4, 32
    cfg.model.encoder_width = encoder_width
    cfg.stage2.freeze = freeze
    student = build_split_model("efficientnet_lite0", bottleneck_channels=4, encoder="light",
                                decoder_channels=32, encoder_width=encoder_width or None)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(asdict(cfg)))
    torch.save(student.state_dict(), run / "stage2.pt")
    return run, student


def test_exported_student_is_rebuilt_with_its_encoder_width(tmp_path) -> None:
    run, student = _run(tmp_path, encoder_width=48, freeze=["encoder", "tail"])
    out = export_student(run, tmp_path / "s.pt", dtype="float32")
    obj = torch.load(out, weights_only=True)
    assert obj["meta"]["encoder_width"] == 48 and obj["meta"]["decoder_channels"] == 32
    assert all(".bottleneck." in k for k in obj["state_dict"])
    meta = obj["meta"]
    again = build_split_model("efficientnet_lite0", bottleneck_channels=4, encoder=meta["encoder"],
                              decoder_channels=meta["decoder_channels"],
                              encoder_width=meta["encoder_width"] or None)
    missing, unexpected = again.load_state_dict(obj["state_dict"], strict=False)
    assert not unexpected and not any(".bottleneck." in k for k in missing)
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(again.eval()(x), student.eval()(x))


def test_export_refuses_a_run_that_trained_the_teachers_layers(tmp_path) -> None:
    run, _ = _run(tmp_path, encoder_width=0, freeze=["encoder"])
    with pytest.raises(ValueError, match="teacher's layers"):
        export_student(run, tmp_path / "s.pt")
