"""Tables and rate-accuracy plots from the ``result.json`` files of a folder of runs.

One Markdown table per teacher model (with a CSV of every row beside it) and one PNG
per model: bytes per image (log scale) against top-1 accuracy, or against top-1
agreement with the teacher where there are no labels.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["collect_rows", "write_report"]

_ORDER = {"teacher": 0, "natural_q8": 1, "bottlefit": 2, "bottlefit_stage1": 3, "naive": 4,
          "autoencoder": 5, "jpeg_offload": 6}
_LABEL = {"teacher": "teacher (whole model, local)", "natural_q8": "natural split, 8-bit",
          "bottlefit": "BottleFit 2-stage", "bottlefit_stage1": "BottleFit stage 1 only",
          "naive": "naive (CE end to end)", "autoencoder": "autoencoder at natural split",
          "jpeg_offload": "JPEG offload, matched bytes"}
CLAIM_SAVING, CLAIM_DROP = 0.77, 0.6


def collect_rows(runs: str | os.PathLike[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(runs).rglob("result.json")):
        data = json.loads(path.read_text())
        for row in data.get("rows", []):
            rows.append({**row, "run": path.parent.relative_to(runs).as_posix()})
    return rows


def _pct(v: Any, digits: int = 2) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.{digits}f}"


def _num(v: Any, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:,.{digits}f}"


def _group(row: dict[str, Any]) -> str:
    """The first folder of the run (``lite0_continue``), to tell repeated rows apart."""
    return str(row.get("run", "")).split("/")[0]


def _sort_key(row: dict[str, Any]) -> tuple:
    c = row.get("bottleneck_channels")
    matched = row.get("matched_to", "")
    return (0 if row["method"] in ("teacher", "natural_q8") else 1, c if c is not None else -1,
            _group(row), _ORDER.get(row["method"], 9), matched)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    teacher = next((r for r in rows if r["method"] == "teacher"), None)
    labelled = any(r.get("top1") is not None for r in rows)
    t_acc = teacher["top1"] if teacher else None
    head = ["method", "C", "top-1 %" if labelled else "agreement top-1 %",
            "Δ pts" if labelled else "agreement top-5 %"]
    if labelled:
        head += ["top-5 %", "agree. %"]
    head += ["bytes/image", "saving vs JPEG q95", "× vs raw", "head params", "head MFLOPs",
             "sent", "claim"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    seen: dict[tuple, set[str]] = defaultdict(set)
    for r in rows:
        seen[(r["method"], r.get("bottleneck_channels"))].add(_group(r))
    for r in sorted(rows, key=_sort_key):
        method = r["method"]
        label = _LABEL.get(method, method)
        if len(seen[(method, r.get("bottleneck_channels"))]) > 1:
            label += f" [{_group(r)}]"
        if method == "jpeg_offload":
            label += f" (q{r.get('jpeg_quality')})"
        if method == "natural_q8" and r.get("split"):
            label += f" @{r['split']}"
        if method == "teacher" and not labelled:
            continue
        c = r.get("bottleneck_channels")
        if labelled:
            acc = r.get("top1")
            drop = (t_acc - acc) * 100 if (t_acc is not None and acc is not None) else None
            cells = [label, "" if c is None else str(c), _pct(acc),
                     "" if drop is None or method == "teacher" else f"{-drop + 0.0:+.2f}",
                     _pct(r.get("top5")), _pct(r.get("agreement_top1"), 1)]
        else:
            drop = None
            cells = [label, "" if c is None else str(c), _pct(r.get("agreement_top1"), 1),
                     _pct(r.get("agreement_top5"), 1)]
        sent = r.get("tensor_shape")
        is_teacher = method == "teacher"
        claim = ""
        if labelled and method in ("bottlefit", "naive", "autoencoder", "bottlefit_stage1") \
                and drop is not None:
            ok = r["saving_vs_jpeg95"] >= CLAIM_SAVING and drop <= CLAIM_DROP
            claim = "yes" if ok else "no"
        cells += ["" if is_teacher else _num(r.get("bytes_mean"), 1),
                  "" if is_teacher else f"{_pct(r.get('saving_vs_jpeg95'), 1)} %",
                  "" if is_teacher else _num(r.get("ratio_vs_raw"), 1),
                  "" if is_teacher else _num(r.get("head_params")),
                  "" if is_teacher else _num((r.get("head_flops") or 0) / 1e6, 2),
                  "JPEG" if method == "jpeg_offload" else
                  ("" if is_teacher else "×".join(str(s) for s in sent or [])),
                  claim]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _plot(model: str, rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labelled = any(r.get("top1") is not None for r in rows)
    key = "top1" if labelled else "agreement_top1"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    markers = {"natural_q8": "s", "bottlefit": "o", "bottlefit_stage1": "v", "naive": "x",
               "autoencoder": "^", "jpeg_offload": "D"}
    groups = sorted({_group(r) for r in rows})
    for method, marker in markers.items():
        for group in groups:
            pts = sorted((r["bytes_mean"], 100 * r[key], r.get("bottleneck_channels"))
                         for r in rows if r["method"] == method and _group(r) == group
                         and r.get(key) is not None and r.get("bytes_mean"))
            if not pts:
                continue
            xs, ys, cs = zip(*pts)
            label = _LABEL[method] + (f" [{group}]" if len(groups) > 1 else "")
            ax.plot(xs, ys, marker=marker, linestyle="-" if len(pts) > 1 else "none",
                    label=label)
            if method == "bottlefit":
                for x, y, c in pts:
                    ax.annotate(f"C={c}", (x, y), textcoords="offset points", xytext=(4, -10),
                                fontsize=7)
    teacher = next((r for r in rows if r["method"] == "teacher"), None)
    if teacher and labelled:
        ax.axhline(100 * teacher["top1"], color="grey", linestyle="--", linewidth=1,
                   label=f"teacher {100 * teacher['top1']:.2f} %")
    jpeg = [r["jpeg95_bytes_mean"] for r in rows if r.get("jpeg95_bytes_mean")]
    if jpeg:
        ax.axvline(jpeg[0], color="tab:red", linestyle=":", linewidth=1,
                   label=f"JPEG q95 of the input ({jpeg[0]:,.0f} B)")
    ax.set_xscale("log")
    ax.set_xlabel("bytes per image (batch size 1, as sent)")
    ax.set_ylabel("top-1 accuracy (%)" if labelled else "top-1 agreement with the teacher (%)")
    ax.set_title(f"{model}: rate vs accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_report(runs: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 figures: str | os.PathLike[str] | None = None, title: str = "") -> Path:
    """Write the Markdown tables to ``out``, ``<out>.csv`` and one PNG per model."""
    rows = collect_rows(runs)
    if not rows:
        raise ValueError(f"no result.json under {runs}")
    out = Path(out)
    fig_dir = Path(figures) if figures else out.parent / "figures"
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    lines = [f"## {title}" if title else "", ""]
    for model, mrows in by_model.items():
        size = mrows[0].get("input_size")
        png = fig_dir / f"{out.stem}-{model}.png"
        _plot(model, mrows, png)
        lines += [f"### {model} ({size}×{size} input)", ""]
        lines += _table(mrows)
        rel = os.path.relpath(png, out.parent)
        lines += ["", f"![{model}: rate vs accuracy]({rel})", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines).lstrip("\n") + "\n")
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with out.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return out
