"""An atlas as a static website: plain HTML and PNG files that a browser opens from file://.

``index.html`` lists the layers; ``layers/LAYER.html`` shows a grid of the layer's units;
``units/LAYER/C.html`` shows one unit: its feature visualisations, top and bottom examples as
receptive-field crops, its histogram, and its strongest input and output units by expanded
weights (linked when their layer is in the atlas). Only relative links, no scripts.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import numpy as np

from circuitloupe.core import weights
from circuitloupe.core.atlas.featvis import OBJECTIVES
from circuitloupe.core.atlas.figures import AtlasCrops, save_image
from circuitloupe.core.atlas.store import Atlas, Example, UnitSummary
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.paths import atomic_write_text
from circuitloupe.core.units import UnitRef

CONNECTIONS = 8
CROP_PX = 96

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; background: #fafafa; }
a { color: #1a5fb4; text-decoration: none; } a:hover { text-decoration: underline; }
h1 { font-size: 20px; margin: 4px 0 12px; } h2 { font-size: 15px; margin: 18px 0 6px; }
nav { margin-bottom: 8px; color: #666; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
.cell { width: 104px; text-align: center; font-size: 12px; }
.cell img { width: 96px; height: 96px; image-rendering: auto; border: 1px solid #ccc; background: #fff; }
.ex { display: inline-block; text-align: center; font-size: 11px; margin: 0 4px 4px 0; }
.ex img { width: 96px; height: 96px; border: 1px solid #ccc; display: block; }
.vis img { width: 160px; height: 160px; border: 1px solid #ccc; margin-right: 8px; }
table { border-collapse: collapse; } td, th { padding: 2px 10px 2px 0; text-align: left; }
.cols { display: flex; gap: 40px; flex-wrap: wrap; }
"""


def export_html(atlas: Atlas, model: LoadedModel, out: str | Path, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None) -> Path:
    """Write the site into ``out`` (created; existing pages replaced); returns index.html."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "style.css", _STYLE)
    crops = AtlasCrops(atlas, model)
    units = [UnitRef(name, c) for name, spec in atlas.layers.items() for c in range(spec.channels)]
    for name, spec in atlas.layers.items():
        _write_layer(atlas, out, name, [u for u in units if u.layer == name], crops)
    for done, unit in enumerate(units, start=1):
        check_stop(should_stop)
        _write_unit(atlas, model, out, unit, crops)
        if progress is not None:
            progress(done, len(units))
    rows = "".join(f'<tr><td><a href="layers/{_q(n)}.html">{_e(n)}</a></td><td>{s.channels} units</td>'
                   f'<td>{s.grid[0]}&times;{s.grid[1]} positions</td></tr>' for n, s in atlas.layers.items())
    meta = atlas.meta
    body = (f"<h1>Atlas of {_e(meta['model'])}</h1>"
            f"<p>{atlas.images} images from {_e(str(atlas.root))}, input {meta['input_size'][0]}&times;"
            f"{meta['input_size'][1]} ({_e(meta['resize'])}); weights {_e(meta['weights_id'][:16])}; "
            f"top/bottom {meta['top']} examples per unit; values are pre-ReLU.</p><table>{rows}</table>")
    index = out / "index.html"
    atomic_write_text(index, _page(f"Atlas of {meta['model']}", body, ""))
    return index


def _write_layer(atlas: Atlas, out: Path, layer: str, units: list[UnitRef], crops: AtlasCrops) -> None:
    cells = []
    for unit in units:
        thumb = _thumbnail(atlas, out, unit, crops)
        picture = f'<img src="../{thumb}" alt="">' if thumb else ""
        cells.append(f'<div class="cell"><a href="../units/{_q(layer)}/{unit.channel}.html">{picture}<br>'
                     f'{unit.channel}</a></div>')
    body = (f'<nav><a href="../index.html">atlas</a> &rsaquo; {_e(layer)}</nav><h1>{_e(layer)}</h1>'
            f'<div class="grid">{"".join(cells)}</div>')
    (out / "layers").mkdir(exist_ok=True)
    atomic_write_text(out / "layers" / f"{layer}.html", _page(layer, body, "../"))


def _thumbnail(atlas: Atlas, out: Path, unit: UnitRef, crops: AtlasCrops) -> str | None:
    """The unit's picture for grids: its channel visualisation, else its top example."""
    name = f"assets/{unit.layer}/{unit.channel}-thumb.png"
    source = atlas.featvis(unit, "channel")
    if source is not None:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out / name)
        return name
    top = atlas.unit(unit).top
    image = crops(unit.layer, top[0]) if top else None
    if image is None:
        return None
    save_image(image, out / name, CROP_PX)
    return name


def _write_unit(atlas: Atlas, model: LoadedModel, out: Path, unit: UnitRef, crops: AtlasCrops) -> None:
    summary = atlas.unit(unit)
    assets = out / "assets" / unit.layer
    prefix = f"../../assets/{_q(unit.layer)}/{unit.channel}"
    assets.mkdir(parents=True, exist_ok=True)
    visuals = []
    for objective in OBJECTIVES:
        source = atlas.featvis(unit, objective)
        if source is not None:
            shutil.copyfile(source, assets / f"{unit.channel}-{objective}.png")
            visuals.append(f'<span class="vis"><img src="{prefix}-{objective}.png" alt="" title="{objective}"></span>')
    spec = atlas.layers[unit.layer]
    links = [f'<a href="../../index.html">atlas</a> &rsaquo; <a href="../../layers/{_q(unit.layer)}.html">'
             f'{_e(unit.layer)}</a> &rsaquo; {unit.channel}']
    if unit.channel > 0:
        links.append(f'<a href="{unit.channel - 1}.html">&larr; {unit.channel - 1}</a>')
    if unit.channel + 1 < spec.channels:
        links.append(f'<a href="{unit.channel + 1}.html">{unit.channel + 1} &rarr;</a>')
    stats = "".join(f"<tr><th>{_e(k)}</th><td>{v:.5g}</td></tr>" for k, v in summary.statistics.items())
    fit = f"<p>exponential tail: rate {summary.fit.rate:.4g}</p>" if summary.fit else ""
    body = (f'<nav>{" &nbsp; ".join(links)}</nav><h1>{_e(str(unit))}</h1>'
            + (f"<h2>Feature visualisations ({' / '.join(OBJECTIVES)})</h2>{''.join(visuals)}" if visuals else "")
            + f"<h2>Top {len(summary.top)} examples</h2>{_examples(summary.top, 'top', unit, out, crops)}"
            + f"<h2>Bottom {len(summary.bottom)} examples</h2>{_examples(summary.bottom, 'bottom', unit, out, crops)}"
            + f'<div class="cols"><div><h2>Histogram</h2>{histogram_svg(summary)}{fit}</div>'
            + f"<div><h2>Statistics</h2><table>{stats}</table></div>"
            + f"<div>{_connections(atlas, model, unit)}</div></div>")
    (out / "units" / unit.layer).mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "units" / unit.layer / f"{unit.channel}.html", _page(str(unit), body, "../../"))


def histogram_svg(summary: UnitSummary, width: int = 600, height: int = 220) -> str:
    """The unit's histogram as inline SVG: bar heights on a log scale of the counts, blue
    below zero and red above (as the app's figures), with the range and zero marked."""
    from circuitloupe.core.dataset.figures import FIRING_COLOUR, NEGATIVE_COLOUR

    edges, counts = summary.edges, summary.counts
    plot_h, top = height - 30, 4
    tallest = np.log1p(counts.max()) if counts.size and counts.max() > 0 else 1.0
    span = edges[-1] - edges[0]
    bar_w = width / counts.size
    bars = []
    for i, count in enumerate(counts):
        h = plot_h * np.log1p(count) / tallest
        colour = FIRING_COLOUR if (edges[i] + edges[i + 1]) / 2 > 0 else NEGATIVE_COLOUR
        bars.append(f'<rect x="{i * bar_w:.2f}" y="{top + plot_h - h:.2f}" width="{bar_w:.2f}" height="{h:.2f}" '
                    f'fill="{colour}"><title>{edges[i]:.4g} .. {edges[i + 1]:.4g}: {int(count)}</title></rect>')
    marks = [f'<text x="2" y="{height - 6}">{edges[0]:.3g}</text>',
             f'<text x="{width - 2}" y="{height - 6}" text-anchor="end">{edges[-1]:.3g}</text>']
    if edges[0] < 0 < edges[-1]:
        zero = width * (0 - edges[0]) / span
        marks.append(f'<line x1="{zero:.2f}" x2="{zero:.2f}" y1="{top}" y2="{top + plot_h}" stroke="#888" '
                     f'stroke-dasharray="3,3"/><text x="{zero:.2f}" y="{height - 6}" text-anchor="middle">0</text>')
    outside = (f"; {summary.underflow} below and {summary.overflow} above the range"
               if summary.underflow or summary.overflow else "")
    return (f'<svg width="{width}" height="{height}" font-size="11" style="background:#fff;border:1px solid #ccc">'
            f'{"".join(bars)}{"".join(marks)}</svg><p>pre-ReLU values, log count scale{outside}</p>')


def _examples(examples: list[Example], kind: str, unit: UnitRef, out: Path, crops: AtlasCrops) -> str:
    items = []
    for i, example in enumerate(examples):
        image = crops(unit.layer, example)
        name = f"{unit.channel}-{kind}{i}.png"
        picture = ""
        if image is not None:
            save_image(image, out / "assets" / unit.layer / name, CROP_PX)
            picture = f'<img src="../../assets/{_q(unit.layer)}/{name}" alt="">'
        label = f"{example.value:.4g}" + (f"<br>{_e(example.cls)}" if example.cls else "")
        items.append(f'<span class="ex" title="{_e(example.file)} y={example.y} x={example.x}">{picture}{label}</span>')
    return "".join(items) or "<p>none</p>"


def _connections(atlas: Atlas, model: LoadedModel, unit: UnitRef) -> str:
    """Strongest inputs from the layer before and outputs into the layer after (expanded weights)."""
    parts = []
    source, target = weights.default_source_layer(model, unit.layer), weights.default_target_layer(model, unit.layer)
    if source is not None:
        parts.append(("Top inputs from " + source, weights.top_inputs(model, unit, source, CONNECTIONS)))
    if target is not None:
        parts.append(("Top outputs into " + target, weights.top_outputs(model, unit, target, CONNECTIONS)))
    html_parts = []
    for title, ranked in parts:
        rows = []
        for ref, norm in ranked:
            name = _e(str(ref))
            if ref.layer in atlas.layers:
                name = f'<a href="../{_q(ref.layer)}/{ref.channel}.html">{name}</a>'
            rows.append(f"<tr><td>{name}</td><td>{norm:.4g}</td></tr>")
        html_parts.append(f"<h2>{_e(title)}</h2><table>{''.join(rows)}</table>")
    return "".join(html_parts)


def _page(title: str, body: str, up: str) -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<link rel="stylesheet" href="{up}style.css"></head><body>{body}</body></html>\n')


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _q(name: str) -> str:
    from urllib.parse import quote

    return quote(name)
