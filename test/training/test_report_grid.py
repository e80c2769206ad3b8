"""Grid planning and the report (Markdown table, CSV, PNG) from result files."""

from __future__ import annotations

import json
from pathlib import Path

from bottlefit_ros.training.grid import plan_grid
from bottlefit_ros.training.report import write_report


def test_grid_plans_teachers_first(tmp_path) -> None:
    (tmp_path / "cfg.yaml").write_text("name: x\n")
    (tmp_path / "grid.yaml").write_text(
        "config: cfg.yaml\nteachers:\n  resnet18: {model.name: resnet18}\n"
        "  densenet121: {model.name: densenet121}\nwidths: [1, 2]\n"
        "methods: [bottlefit, naive]\n")
    jobs = plan_grid(tmp_path / "grid.yaml", tmp_path / "out", ["seed=1"], only=["resnet18"])
    assert [j.name for j in jobs] == ["resnet18/teacher", "resnet18/bottlefit-c1",
                                      "resnet18/naive-c1", "resnet18/bottlefit-c2",
                                      "resnet18/naive-c2"]
    assert all(j.after == "resnet18/teacher" for j in jobs[1:])
    student = jobs[1].overrides
    assert "model.name=resnet18" in student and "model.bottleneck_channels=1" in student
    assert any(o.startswith("model.teacher_weights=") and o.endswith("teacher.pt")
               for o in student)
    assert student[-1] == "seed=1"


def _row(method: str, c, top1: float, nbytes: float, **kw) -> dict:
    return {"method": method, "model": "resnet18", "input_size": 64, "bottleneck_channels": c,
            "top1": top1, "top5": 0.99, "agreement_top1": 0.9, "bytes_mean": nbytes,
            "raw_bytes": 4096, "jpeg95_bytes_mean": 1500.0,
            "saving_vs_jpeg95": 1 - nbytes / 1500, "ratio_vs_raw": 4096 / nbytes,
            "head_params": 10, "head_flops": 2e6, "tensor_shape": [c or 128, 9, 9], **kw}


def test_report_table_csv_and_plot(tmp_path) -> None:
    runs = tmp_path / "runs"
    rows = [_row("teacher", None, 0.93, 1.0), _row("natural_q8", None, 0.93, 5000.0),
            _row("bottlefit", 2, 0.927, 170.0), _row("naive", 2, 0.90, 170.0),
            _row("jpeg_offload", 2, 0.85, 420.0, jpeg_quality=1, matched_to="bottlefit")]
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "result.json").write_text(json.dumps({"rows": rows}))
    out = write_report(runs, tmp_path / "docs" / "r.md", title="t")
    text = out.read_text()
    assert "| BottleFit 2-stage | 2 | 92.70 | -0.30 |" in text
    assert "| naive (CE end to end) | 2 | 90.00 | -3.00 |" in text
    assert "JPEG offload, matched bytes (q1)" in text
    claims = [line.split("|")[-2].strip() for line in text.splitlines() if "| 2 |" in line]
    assert claims[:2] == ["yes", "no"]
    assert (tmp_path / "docs" / "r.csv").read_text().startswith("method,")
    assert Path(tmp_path / "docs" / "figures" / "r-resnet18.png").stat().st_size > 1000
