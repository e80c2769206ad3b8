"""Field-trial report: one self-contained HTML page from the monitor's per-frame logs.

    python -m bottlefit_ros.report split.mcap local.csv offload.csv -o report.html

Each log (CSV or MCAP, read with :func:`bottlefit_ros.framelog.read_frame_log`) is a
run; a log that holds several modes is split into one run per mode. The page has a
summary table (from :func:`bottlefit_ros.metrics.summarize`) and plots of latency over
time, latency CDF, per-stage latency, bytes and energy per frame, embedded as base64
PNG (matplotlib, Agg): no external files, scripts or style sheets.
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import math
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from bottlefit_ros.framelog import read_frame_log
from bottlefit_ros.metrics import STAGES, FrameRecord, Summary, percentiles, summarize

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ['Run', 'figure_html', 'html_page', 'load_runs', 'main', 'png_base64',
           'render_report', 'write_report']

DEFAULT_TITLE = 'BottleFit field-trial report'
E2E_QUANTILES = (50, 95, 99)
COMPUTE_STAGES = tuple(s for s in STAGES if s != 'e2e_ms')   # stacked to make e2e


@dataclass
class Run:
    """The frames of one mode in one log, and their summary."""

    name: str                   # label in the table and the legends
    source: str                 # the log's file name
    records: list[FrameRecord]  # in arrival order
    summary: Summary
    e2e_ms: dict[str, float]    # p50 / p95 / p99

    @property
    def energy_label(self) -> str:
        """'measured' or 'ESTIMATED' (energy from a power sensor or from a profile)."""
        return 'measured' if self.summary.energy_measured else 'ESTIMATED'


def load_runs(paths: Sequence[str | os.PathLike[str]]) -> list[Run]:
    """Read the logs: one run per (log, mode). Raises ``ValueError`` naming the log
    when one is missing, unreadable or empty."""
    groups: list[tuple[Path, str, list[FrameRecord], bool]] = []
    for path in map(Path, paths):
        try:
            records = read_frame_log(path)
        except FileNotFoundError:
            raise ValueError(f'{path}: no such file') from None
        except OSError as e:
            raise ValueError(f'{path}: cannot read: {e.strerror or e}') from None
        if not records:
            raise ValueError(f'{path}: no frames in this log')
        modes = list(dict.fromkeys(r.mode for r in records))
        for mode in modes:
            recs = sorted((r for r in records if r.mode == mode), key=lambda r: r.arrival_ns)
            groups.append((path, mode, recs, len(modes) > 1))
    mode_count = {m: sum(g[1] == m for g in groups) for _, m, _, _ in groups}
    runs = []
    for path, mode, recs, shared in groups:
        # A log with several modes: each mode's frames lost within its own seq range.
        sent = max(r.seq for r in recs) - min(r.seq for r in recs) + 1 if shared else None
        name = mode if mode_count[mode] == 1 else f'{mode} ({path.name})'
        runs.append(Run(name=name, source=path.name, records=recs,
                        summary=summarize(recs, frames_sent=sent),
                        e2e_ms=percentiles([r.e2e_ms for r in recs], E2E_QUANTILES)))
    return runs


# --- plots -----------------------------------------------------------------------------------

def png_base64(draw: Callable[['Axes'], None], *, height: float = 3.6) -> str:
    """Draw on a fresh Agg figure (8 inches wide, ``height`` high, grid on);
    the PNG as base64 text, for :func:`figure_html`."""
    from matplotlib.figure import Figure   # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(8.0, height), dpi=110, layout='constrained')
    ax = fig.add_subplot()
    draw(ax)
    ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', metadata={'Software': None})
    return base64.b64encode(buf.getvalue()).decode('ascii')


def _seconds(run: Run) -> np.ndarray:
    t0 = run.records[0].arrival_ns
    return np.array([(r.arrival_ns - t0) / 1e9 for r in run.records])


def _plots(runs: Sequence[Run]) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of each plot."""
    colours = {run.name: f'C{i % 10}' for i, run in enumerate(runs)}

    def latency_over_time(ax: 'Axes') -> None:
        for run in runs:
            ax.plot(_seconds(run), [r.e2e_ms for r in run.records], '.-', ms=3, lw=0.7,
                    color=colours[run.name], label=run.name)
        ax.set(xlabel='time since the run\'s first result (s)',
               ylabel='end-to-end latency (ms)', title='End-to-end latency over time')
        ax.set_ylim(bottom=0)
        ax.legend()

    def latency_cdf(ax: 'Axes') -> None:
        for run in runs:
            e2e = np.sort([r.e2e_ms for r in run.records])
            ax.step(e2e, np.arange(1, e2e.size + 1) / e2e.size, where='post',
                    color=colours[run.name], label=f'{run.name} (p95 {run.e2e_ms["p95"]:.1f} ms)')
        for q in E2E_QUANTILES:
            ax.axhline(q / 100, color='grey', lw=0.6, ls=':')
        ax.set(xlabel='end-to-end latency (ms)', ylabel='fraction of frames',
               title='End-to-end latency CDF', ylim=(0, 1.01))
        ax.legend(loc='lower right')

    def stages(ax: 'Axes') -> None:
        left = np.zeros(len(runs))
        for i, stage in enumerate(COMPUTE_STAGES):
            p50 = np.array([run.summary.latency_ms[stage]['p50'] for run in runs])
            ax.barh([run.name for run in runs], p50, left=left, color=f'C{i}',
                    label=stage.removesuffix('_ms'))
            left += p50
        ax.set(xlabel='median time per frame (ms)', title='Per-stage latency (p50 of each '
               'stage, stacked; transport = network, DDS, queues)')
        ax.invert_yaxis()
        ax.legend(ncols=3, fontsize='small')

    def bytes_per_frame(ax: 'Axes') -> None:
        for run in runs:
            ax.plot(_seconds(run), [r.payload_bytes / 1000 for r in run.records], '.-', ms=3,
                    lw=0.7, color=colours[run.name],
                    label=f'{run.name} (mean {run.summary.bytes_per_frame / 1000:,.1f} kB)')
        ax.set(xlabel='time since the run\'s first result (s)',
               ylabel='bytes sent by the robot (kB / frame)', title='Bytes per frame')
        ax.set_ylim(bottom=0)
        ax.legend()

    def energy_per_frame(ax: 'Axes') -> None:
        shown = 0
        for run in runs:
            mj = np.array([r.energy_j * 1000 for r in run.records])
            if np.isnan(mj).all():
                continue
            shown += 1
            ax.plot(_seconds(run), mj, '.-', ms=3, lw=0.7, color=colours[run.name],
                    label=f'{run.name} ({run.energy_label}: {run.summary.energy_method or "-"})')
        ax.set(xlabel='time since the run\'s first result (s)',
               ylabel='robot energy (mJ / frame)', title='Energy per frame')
        if shown:
            ax.set_ylim(bottom=0)
            ax.legend()
        else:
            ax.text(0.5, 0.5, 'no energy data in these logs', ha='center', va='center',
                    transform=ax.transAxes)

    stage_height = 1.6 + 0.45 * len(runs)
    return [
        ('End-to-end latency (capture to result arrival, robot clock) of each frame.',
         png_base64(latency_over_time)),
        ('Cumulative distribution of end-to-end latency; dotted lines at p50, p95, p99.',
         png_base64(latency_cdf)),
        ('Median time of each stage per run.', png_base64(stages, height=stage_height)),
        ('Bytes the robot sent per frame (0 in local mode).', png_base64(bytes_per_frame)),
        ('Robot energy attributed to each frame; the legend says whether it was measured '
         'by a power sensor or ESTIMATED from a power profile.', png_base64(energy_per_frame)),
    ]


# --- page ------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.text, th.text { text-align: left; }
.estimated { color: #a40; font-weight: bold; } .meta { color: #555; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 0.9em; }
img { max-width: 100%; height: auto; }
"""


def _num(value: float, fmt: str) -> str:
    return '–' if value is None or math.isnan(value) else format(value, fmt)


def _table(runs: Sequence[Run]) -> str:
    stage_heads = ''.join(f'<th>{s.removesuffix("_ms")}<br>p50 ms</th>' for s in COMPUTE_STAGES)
    head = ('<tr><th class="text">run</th><th class="text">model</th><th class="text">log</th>'
            '<th>frames</th><th>lost</th><th>fps</th><th>duration<br>s</th>'
            + ''.join(f'<th>e2e<br>p{q} ms</th>' for q in E2E_QUANTILES) + stage_heads
            + '<th>bytes /<br>frame</th><th>energy /<br>frame J</th>'
            '<th class="text">energy source</th></tr>')
    rows = []
    for run in runs:
        s = run.summary
        if math.isnan(s.energy_j_per_frame):
            source = 'no data'
        else:
            label = run.energy_label if s.energy_measured else \
                f'<span class="estimated">{run.energy_label}</span>'
            source = f'{label}: {html.escape(s.energy_method or "-")}'
        cells = [f'<td class="text">{html.escape(run.name)}</td>',
                 f'<td class="text">{html.escape(s.model)}</td>',
                 f'<td class="text">{html.escape(run.source)}</td>',
                 f'<td>{s.frames_delivered}</td>', f'<td>{s.frames_lost}</td>',
                 f'<td>{_num(s.fps, ".1f")}</td>', f'<td>{_num(s.duration_s, ".1f")}</td>']
        cells += [f'<td>{_num(run.e2e_ms[f"p{q}"], ".2f")}</td>' for q in E2E_QUANTILES]
        cells += [f'<td>{_num(s.latency_ms[st]["p50"], ".2f")}</td>' for st in COMPUTE_STAGES]
        cells += [f'<td>{_num(s.bytes_per_frame, ",.0f")}</td>',
                  f'<td>{_num(s.energy_j_per_frame, ".4f")}</td>',
                  f'<td class="text">{source}</td>']
        rows.append('<tr>' + ''.join(cells) + '</tr>')
    return f'<table>\n{head}\n' + '\n'.join(rows) + '\n</table>'


def render_report(runs: Sequence[Run], *, sources: Sequence[str], title: str = DEFAULT_TITLE,
                  generated: datetime | None = None) -> str:
    """The HTML page of ``runs``; ``sources`` are the input file names shown on it."""
    if not runs:
        raise ValueError('no runs to report')
    generated = generated or datetime.now().astimezone()
    figures = '\n'.join(figure_html(caption, png) for caption, png in _plots(runs))
    estimated = any(r.energy_label == 'ESTIMATED' and not math.isnan(r.summary.energy_j_per_frame)
                    for r in runs)
    warning = ('<p class="estimated">Energy marked ESTIMATED comes from a power profile, '
               'not from a sensor.</p>' if estimated else '')
    return html_page(title, f"""<p class="meta">Generated {generated.isoformat(timespec='seconds')} from
{', '.join(f'<code>{html.escape(s)}</code>' for s in sources)}:
{sum(r.summary.frames_delivered for r in runs)} frames in {len(runs)} run(s).</p>
<h2>Summary</h2>
{_table(runs)}
<p class="meta">End-to-end latency: capture stamp to result arrival at the monitor, both on
the robot's clock. Transport = end-to-end minus all compute stages (network, DDS, queues).
Lost = sequence numbers missing from the run's range.</p>
{warning}
<h2>Plots</h2>
{figures}""")


def figure_html(caption: str, png: str) -> str:
    """One plot (base64 PNG from :func:`png_base64`) with its caption, as HTML."""
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{png}">'
            f'<figcaption>{html.escape(caption)}</figcaption></figure>')


def html_page(title: str, body: str) -> str:
    """A self-contained HTML page: ``title`` as its heading, then ``body`` (HTML)."""
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{t}</h1>
{body}
</body>
</html>
"""


FIGURE_NAMES = ('latency-over-time', 'latency-cdf', 'stages', 'bytes', 'energy')


def write_report(paths: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *,
                 title: str = DEFAULT_TITLE,
                 figures_dir: str | os.PathLike[str] | None = None) -> list[Run]:
    """Read the logs, write the HTML page to ``output``; the runs it shows. With
    ``figures_dir``, also write each plot there as ``<output stem>-<name>.png``."""
    runs = load_runs(paths)
    page = render_report(runs, sources=[Path(p).name for p in paths], title=title)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding='utf-8')
    if figures_dir is not None:
        fig_dir = Path(figures_dir)
        fig_dir.mkdir(parents=True, exist_ok=True)
        for name, (_caption, png) in zip(FIGURE_NAMES, _plots(runs)):
            (fig_dir / f'{out.stem}-{name}.png').write_bytes(base64.b64decode(png))
    return runs


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m bottlefit_ros.report --help``."""
    ap = argparse.ArgumentParser(prog='python -m bottlefit_ros.report',
                                 description=__doc__.split('\n\n')[0])
    ap.add_argument('logs', nargs='+', metavar='LOG', help='monitor log, .csv or .mcap '
                    '(one per run, e.g. one per mode)')
    ap.add_argument('-o', '--output', default='report.html', help='HTML file to write '
                    '(default: %(default)s)')
    ap.add_argument('--title', default=DEFAULT_TITLE)
    ap.add_argument('--figures', metavar='DIR', help='also write each plot as a PNG file here')
    a = ap.parse_args(argv)
    try:
        runs = write_report(a.logs, a.output, title=a.title, figures_dir=a.figures)
    except ValueError as e:   # a log missing, unreadable or empty
        print(f'{ap.prog}: error: {" ".join(str(e).split())}', file=sys.stderr)
        return 2
    except OSError as e:      # the output (reading errors are ValueErrors by now)
        print(f'{ap.prog}: error: cannot write {a.output}: {e.strerror or e}', file=sys.stderr)
        return 1
    print(f'{a.output}: {len(runs)} run(s), '
          f'{sum(r.summary.frames_delivered for r in runs)} frames')
    return 0

if __name__ == '__main__':
    sys.exit(main())
