"""Run a grid of experiments: per teacher, the teacher, the natural split, and every
method at every bottleneck width, several jobs at once (one GPU holds several small
jobs; a job is one ``python -m bottlefit_ros.training train`` process).

Grid file (YAML)::

    config: fashion_mnist.yaml     # training configuration, relative to this file
    train_teacher: true            # false: the teachers' weights are given (model.teacher_weights)
    teachers:                      # name -> overrides for its jobs
      resnet18: {model.name: resnet18}
    widths: [1, 2, 4, 8]
    methods: [bottlefit, naive, autoencoder]
    natural: true                  # evaluate the natural split (8-bit); with train_teacher the
                                   # teacher job does
    method_overrides:              # optional, per method
      naive: {}

Runs land in ``OUT/<teacher>/<method>[-c<width>]``; each job's log beside its results.
A job whose ``result.json`` exists is skipped, so a grid can be resumed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Job", "plan_grid", "run_grid"]


@dataclass
class Job:
    name: str
    method: str
    out: Path
    overrides: list[str]
    after: str | None = None
    config: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started: float = 0.0


def _flat(mapping: dict[str, Any] | None) -> list[str]:
    return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in (mapping or {}).items()]


def plan_grid(grid_path: str | os.PathLike[str], out: str | os.PathLike[str],
              overrides: list[str] | None = None, only: list[str] | None = None,
              widths: list[int] | None = None) -> list[Job]:
    """The jobs of a grid file, teachers first (``only``: these teachers alone)."""
    path = Path(grid_path).resolve()
    spec = yaml.safe_load(path.read_text("utf-8")) or {}
    unknown = set(spec) - {"config", "train_teacher", "teachers", "widths", "methods", "natural",
                           "method_overrides"}
    if unknown:
        raise ValueError(f"{path}: unknown grid keys {sorted(unknown)}")
    config = str((path.parent / spec["config"]).resolve())
    out = Path(out)
    train_teacher = bool(spec.get("train_teacher", True))
    per_method = spec.get("method_overrides") or {}
    base = list(overrides or [])
    jobs: list[Job] = []
    students: list[Job] = []
    teachers = spec.get("teachers") or {}
    unknown_teachers = sorted(set(only or ()) - set(teachers))
    if unknown_teachers:
        raise ValueError(f"{path}: no teacher(s) {unknown_teachers}; teachers: {list(teachers)}")
    for teacher, tov in teachers.items():
        if only and teacher not in only:
            continue
        t_over = _flat(tov)
        folder = out / teacher
        after = None
        teacher_weights: list[str] = []
        if train_teacher:
            jobs.append(Job(f"{teacher}/teacher", "teacher", folder / "teacher",
                            [*t_over, *base], None, config))
            after = f"{teacher}/teacher"
            teacher_weights = [f"model.teacher_weights={folder / 'teacher' / 'teacher.pt'}"]
        if spec.get("natural", True) and not train_teacher:  # the teacher job evaluates it
            students.append(Job(f"{teacher}/natural", "natural", folder / "natural",
                                [*t_over, *teacher_weights, *base], after, config))
        for width in widths or spec.get("widths") or []:
            for method in spec.get("methods") or []:
                students.append(Job(
                    f"{teacher}/{method}-c{width}", method, folder / f"{method}-c{width}",
                    [*t_over, *teacher_weights, f"model.bottleneck_channels={width}",
                     *_flat(per_method.get(method)), *base], after, config))
    return jobs + students


def _command(job: Job) -> list[str]:
    cmd = [sys.executable, "-m", "bottlefit_ros.training", "train", job.method,
           "--config", job.config, "--out", str(job.out), "--set", "progress=off"]
    for o in job.overrides:
        cmd += ["--set", o]
    return cmd


def run_grid(grid_path: str | os.PathLike[str], out: str | os.PathLike[str], *, jobs: int = 1,
             deadline: float = 0, hard_deadline: float = 0,
             overrides: list[str] | None = None, only: list[str] | None = None,
             widths: list[int] | None = None) -> int:
    """Run the grid with up to ``jobs`` processes; returns the number of failed jobs."""
    todo = plan_grid(grid_path, out, overrides, only, widths)
    t0 = time.monotonic()
    done: set[str] = set()
    failed: set[str] = set()
    running: list[Job] = []
    pending = []
    for job in todo:
        if (job.out / "result.json").is_file():
            done.add(job.name)
        else:
            pending.append(job)
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def log(msg: str) -> None:
        print(f"[grid {time.monotonic() - t0:7.1f}s] {msg}", flush=True)

    while pending or running:
        now = time.monotonic() - t0
        for job in list(running):
            if job.proc is not None and job.proc.poll() is not None:
                running.remove(job)
                ok = job.proc.returncode == 0 and (job.out / "result.json").is_file()
                (done if ok else failed).add(job.name)
                log(f"{'done' if ok else 'FAILED'} {job.name} ({time.monotonic() - job.started:.0f}s)"
                    + ("" if ok else f": see {job.out / 'log.txt'}"))
        if hard_deadline and now > hard_deadline:
            for job in running:
                if job.proc is not None:
                    job.proc.terminate()
                    log(f"stopped {job.name} at the hard deadline")
            for job in running:
                if job.proc is not None:
                    job.proc.wait()
                failed.add(job.name)
            running.clear()
            break
        for job in list(pending):
            if job.after in failed:
                pending.remove(job)
                failed.add(job.name)
                log(f"skipped {job.name}: {job.after} failed")
        if deadline and now > deadline:
            for job in pending:
                log(f"not started (deadline): {job.name}")
            failed.update(j.name for j in pending)
            pending.clear()
        while len(running) < max(1, jobs):
            ready = next((j for j in pending if j.after is None or j.after in done), None)
            if ready is None:
                break
            pending.remove(ready)
            ready.out.mkdir(parents=True, exist_ok=True)
            logf = (ready.out / "log.txt").open("ab")
            ready.proc = subprocess.Popen(_command(ready), stdout=logf, stderr=subprocess.STDOUT,
                                          env=env)
            ready.started = time.monotonic()
            running.append(ready)
            log(f"start {ready.name}")
        time.sleep(0.5)
    log(f"{len(done)} done, {len(failed)} failed")
    return len(failed)
