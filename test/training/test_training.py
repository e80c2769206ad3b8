"""Training end to end on the CPU: every method, resuming, stage 1's frozen tail, DDP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bottlefit_ros.models import build_split_model, build_teacher, stage_outputs
from bottlefit_ros.training.cli import main
from bottlefit_ros.training.data import load_fashion_mnist, resize_batch
from bottlefit_ros.training.losses import feature_distillation_loss


def _rows(path: Path) -> list[dict]:
    return json.loads((path / "result.json").read_text())["rows"]


def _smoke(fm_dir: Path, out: Path, *extra: str) -> list[str]:
    cfg = Path(__file__).resolve().parents[2] / "config" / "training" / "smoke.yaml"
    args = ["--config", str(cfg), "--out", str(out), "--set", f"data.root={fm_dir}",
            "--set", "progress=off"]
    for e in extra:
        args += ["--set", e]
    return args


@pytest.fixture(scope="module")
def trained_teacher(tmp_path_factory, fm_dir) -> Path:
    out = tmp_path_factory.mktemp("teacher")
    assert main(["train", "teacher", *_smoke(fm_dir, out, "teacher.epochs=2")]) == 0
    rows = {r["method"]: r for r in _rows(out)}
    assert set(rows) == {"teacher", "natural_q8"}
    assert rows["natural_q8"]["tensor_shape"] == [128, 8, 8]
    return out / "teacher.pt"


@pytest.mark.parametrize("method", ["bottlefit", "naive", "autoencoder", "natural"])
def test_smoke_every_method(method, fm_dir, trained_teacher, tmp_path) -> None:
    out = tmp_path / method
    assert main(["train", method, *_smoke(fm_dir, out,
                                          f"model.teacher_weights={trained_teacher}")]) == 0
    rows = _rows(out)
    methods = [r["method"] for r in rows]
    expected = {"bottlefit": ["bottlefit_stage1", "bottlefit", "jpeg_offload"],
                "naive": ["naive"], "autoencoder": ["autoencoder"],
                "natural": ["natural_q8"]}[method]
    assert methods == expected
    for r in rows:
        assert r["images"] == 16 and 0.0 <= r["top1"] <= 1.0 and r["bytes_mean"] > 0
    if method != "natural":
        metrics = (out / "metrics.csv").read_text().splitlines()
        assert metrics[0].startswith("stage,epoch,lr,loss") and len(metrics) > 1


def test_resume_gives_the_uninterrupted_result(fm_dir, trained_teacher, tmp_path) -> None:
    over = [f"model.teacher_weights={trained_teacher}", "naive.epochs=2", "naive.milestones=[1]"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    main(["train", "naive", *_smoke(fm_dir, whole, *over)])
    main(["train", "naive", *_smoke(fm_dir, parts, *over), "--stop-after-epochs", "1"])
    assert not (parts / "naive.pt").exists()
    assert torch.load(parts / "naive.ckpt", weights_only=False)["epoch"] == 1
    main(["train", "naive", *_smoke(fm_dir, parts, *over)])
    a = torch.load(whole / "naive.pt", weights_only=True)
    b = torch.load(parts / "naive.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(x) for x in (parts / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def _student_and_teacher(calibrate_fn, fm_dir):
    x, _ = load_fashion_mnist(fm_dir, "train")
    images = resize_batch(x[:16], 64).expand(-1, 3, -1, -1) / 255 - 0.5
    teacher = calibrate_fn(build_split_model("resnet18", weights=None, num_classes=10,
                                             input_size=64), images)
    student = build_split_model("resnet18", bottleneck_channels=2, decoder_channels=16,
                                weights=None, num_classes=10, input_size=64)
    student.load_weights(teacher.state_dict())
    teacher_net = build_teacher(student, weights=teacher.state_dict()).requires_grad_(False).eval()
    return student, teacher_net, images[:8]


def test_stage1_trains_only_the_bottleneck_and_its_loss_falls(fm_dir, tmp_path,
                                                              calibrate_fn) -> None:
    student, teacher, images = _student_and_teacher(calibrate_fn, fm_dir)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    # the same set-up as methods.run_method("stage1"): everything frozen but the bottleneck
    student.requires_grad_(False).eval()
    for m in student.bottleneck_modules():
        m.requires_grad_(True).train()
    opt = torch.optim.Adam(student.bottleneck_parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        with torch.no_grad():
            t = stage_outputs(teacher, images)
        loss = feature_distillation_loss(stage_outputs(student, images), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses
    after = student.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(".bottleneck." in f".{k}" for k in changed)
    assert any(k.startswith("head.bottleneck.encoder") for k in changed)
    assert any(k.startswith("tail.bottleneck.decoder") for k in changed)


def test_stage1_run_leaves_the_teacher_layers_untouched(fm_dir, trained_teacher, tmp_path) -> None:
    out = tmp_path / "s1"
    main(["train", "stage1", *_smoke(fm_dir, out, f"model.teacher_weights={trained_teacher}")])
    teacher = torch.load(trained_teacher, weights_only=True)
    student = torch.load(out / "stage1.pt", weights_only=True)
    kept = [k for k in student if k.startswith("tail.") and ".bottleneck." not in k]
    assert kept and all(torch.equal(student[k], teacher[k]) for k in kept)  # BN stats too
    init = build_split_model("resnet18", bottleneck_channels=2, decoder_channels=16,
                             weights=None, num_classes=10, input_size=64).state_dict()
    assert init.keys() == student.keys()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in rows] == ["stage1", "stage1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_on_gloo(fm_dir, trained_teacher, tmp_path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
           "-m", "bottlefit_ros.training", "train", "naive",
           *_smoke(fm_dir, out, f"model.teacher_weights={trained_teacher}")]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["images_per_s"] > 0
    assert [r["method"] for r in _rows(out)] == ["naive"]
