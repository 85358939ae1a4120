"""Attribution figures (PNG), shared by ``circuitloupe attribute`` and the pane's Export PNG.

Signed maps use the Circuits red (positive) / white / blue (negative) map; absolute maps magma.
Every function takes ``scale`` and returns a PIL image.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from circuitloupe.core.attribution.circuits import Contribution, Contributions
from circuitloupe.core.attribution.curves import CurveExtraction
from circuitloupe.core.units import UnitRef
from circuitloupe.core.figures import (diverging_rgb, font, heat_overlay, sequential_rgb, side_by_side, stack,
                                       tile_grid, to_pil, upscale)

OVERLAY_MODES = ("side_by_side", "overlay")


def clip_limit(heat: np.ndarray, clip_percentile: float = 99.5) -> float:
    """The value at ``clip_percentile`` of |heat| (values beyond it saturate); never 0."""
    values = np.abs(np.asarray(heat, dtype=np.float32))
    limit = float(np.percentile(values, clip_percentile)) if values.size else 0.0
    return limit or float(values.max(initial=0.0)) or 1.0


def heat_rgb(heat: np.ndarray, signed: bool = True, clip_percentile: float = 99.5) -> np.ndarray:
    """A map [H, W] as colours [H, W, 3]: red/blue about zero when ``signed``, else |heat| in magma."""
    limit = clip_limit(heat, clip_percentile)
    if signed:
        return diverging_rgb(np.clip(heat, -limit, limit), limit)
    return sequential_rgb(np.clip(np.abs(heat), 0, limit), 0, limit)


def colour_bar(limit: float, signed: bool = True, height: int = 224, scale: float = 1.0) -> Image.Image:
    """A vertical colour bar from -limit (or 0) at the bottom to +limit at the top, labelled."""
    h, w = int(round(height * scale)), int(round(14 * scale))
    ramp = np.linspace(limit, -limit if signed else 0.0, h)[:, None].repeat(w, axis=1)
    colours = diverging_rgb(ramp, limit) if signed else sequential_rgb(ramp, 0.0, limit)
    text_w = int(round(52 * scale))
    canvas = Image.new("RGB", (w + text_w, h), "white")
    canvas.paste(to_pil(colours), (0, 0))
    draw = ImageDraw.Draw(canvas)
    size = max(8, int(round(10 * scale)))
    draw.text((w + 3, 0), f"{limit:+.3g}", fill="black", font=font(size))
    draw.text((w + 3, h // 2 - size // 2), "0", fill="black", font=font(size))
    draw.text((w + 3, h - size - 2), f"{-limit:+.3g}" if signed else "0", fill="black", font=font(size))
    return canvas


def overlay_figure(image: np.ndarray, heat: np.ndarray, title: str = "", signed: bool = True,
                   opacity: float = 0.6, clip_percentile: float = 99.5, mode: str = "side_by_side",
                   scale: float = 1.0) -> Image.Image:
    """An attribution map over its image with a colour bar.

    ``image`` [H, W, 3] in [0, 1]; ``heat`` [H, W] (or [H, W, C], summed). ``mode``
    ``side_by_side`` shows image | map | overlay, ``overlay`` the overlay alone. ``signed=False``
    shows |heat|. Values beyond ``clip_percentile`` of |heat| saturate.
    """
    heat = np.asarray(heat, dtype=np.float32)
    heat = heat.sum(axis=2) if heat.ndim == 3 else heat
    shown = heat if signed else np.abs(heat)
    limit = clip_limit(shown, clip_percentile)
    rgb = as_rgb(image)
    blended = heat_overlay(rgb, shown, signed=signed, opacity=opacity, clip_percentile=clip_percentile)
    if mode == "side_by_side":
        panels = [to_pil(rgb), to_pil(heat_rgb(shown, signed, clip_percentile)), to_pil(blended)]
        labels = ["image", "attribution" + ("" if signed else " |.|"), f"overlay ({opacity:.0%})"]
    elif mode == "overlay":
        panels, labels = [to_pil(blended)], [f"overlay ({opacity:.0%})"]
    else:
        raise ValueError(f"mode must be one of {OVERLAY_MODES}, not {mode!r}")
    row = side_by_side(panels, labels, scale=scale)
    bar = colour_bar(limit, signed, height=224, scale=scale)
    return _with_title(stack([row, bar], vertical=False, gap=round(6 * scale)), title, scale)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """[H, W], [H, W, 1] or [H, W, 3+] in [0, 1] -> [H, W, 3] float32."""
    image = np.asarray(image, dtype=np.float32)
    image = image[..., None] if image.ndim == 2 else image
    return image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)


def spatial_tile(image: np.ndarray, values: np.ndarray, support: tuple[int, int, int, int], limit: float,
                 opacity: float = 0.75, pad: int = 1) -> np.ndarray:
    """An earlier unit's w * x map (source-layer positions) over the image region it covers.

    Crops to ``support`` (top, bottom, left, right in source positions) widened by ``pad``
    positions; returns [h, w, 3] in [0, 1] at the image's resolution.
    """
    rows, cols = values.shape
    top, bottom = max(0, support[0] - pad), min(rows, support[1] + pad)
    left, right = max(0, support[2] - pad), min(cols, support[3] + pad)
    height, width = image.shape[:2]
    y0, y1 = int(np.floor(top * height / rows)), int(np.ceil(bottom * height / rows))
    x0, x1 = int(np.floor(left * width / cols)), int(np.ceil(right * width / cols))
    crop = as_rgb(image)[y0:y1, x0:x1]
    patch = values[top:bottom, left:right].astype(np.float32)
    up = np.asarray(Image.fromarray(patch, mode="F").resize((crop.shape[1], crop.shape[0]), Image.NEAREST),
                    dtype=np.float32)
    colour = diverging_rgb(np.clip(up, -limit, limit), limit)
    weight = np.clip(np.abs(up) / limit, 0, 1)[..., None] * opacity
    gray = crop.mean(axis=2, keepdims=True).repeat(3, axis=2)
    return gray * (1 - weight) + colour * weight


def shared_limit(rows: Sequence[Contribution]) -> float:
    """One colour scale for several units' w * x maps: the median of their peaks |w * x|, so
    that most maps are readable and the strongest saturate."""
    peaks = [float(np.abs(row.map).max()) for row in rows]
    return float(np.median(peaks)) if peaks and max(peaks) > 0 else 1.0


def ranking_figure(contributions: Contributions, top: int = 8,
                   thumbnails: Mapping[UnitRef, Image.Image | np.ndarray | None] | None = None,
                   scale: float = 1.0) -> Image.Image:
    """The strongest excitatory and inhibitory earlier units: each tile is the unit's w * x over
    the image region the attributed unit sees (one colour scale, :func:`shared_limit`), under
    its feature visualisation when ``thumbnails`` has one."""
    c = contributions
    positive, negative = c.ranked(1, top), c.ranked(-1, top)
    limit = shared_limit(positive + negative)
    bias = f" = bias {c.bias:.4g} + sum w*x {c.totals.sum():.4g}" if c.bias is not None else ""
    attributed = f"{c.target_layer}:{c.channel}"
    header = (f"{c.unit}" + (f" (as {attributed})" if attributed != str(c.unit) else "") +
              f" at {c.position} <- {c.source_layer}: value {c.value:.4g}{bias}")
    parts = [_text_line(header, scale)]
    for name, rows in (("excitatory (+)", positive), ("inhibitory (-)", negative)):
        if not rows:
            parts.append(_text_line(f"{name}: none", scale))
            continue
        tiles = [_ranked_tile(c, row, limit, thumbnails) for row in rows]
        labels = [f"{row.unit.channel}  {row.total:+.3g}" for row in rows]
        parts.append(tile_grid(tiles, labels, columns=min(len(tiles), 8), tile_size=96, scale=scale,
                               title=f"{name}: {c.source_layer} channel, contribution"))
    parts.append(colour_bar(limit, True, height=96, scale=scale))
    return stack(parts, gap=round(4 * scale))


def _ranked_tile(c: Contributions, row: Contribution, limit: float,
                 thumbnails: Mapping[UnitRef, Image.Image | np.ndarray | None] | None) -> Image.Image:
    tile = to_pil(spatial_tile(c.image, row.map, c.support, limit))
    thumb = (thumbnails or {}).get(row.unit)
    if thumb is None:
        return upscale(tile, (96, 96))
    thumb = thumb if isinstance(thumb, Image.Image) else to_pil(thumb)
    canvas = Image.new("RGB", (96, 96), "white")
    canvas.paste(upscale(thumb.convert("RGB"), (47, 47), smooth=True), (0, 0))
    canvas.paste(upscale(tile, (96, 48)), (0, 48))
    return canvas


def curve_figure(extraction: CurveExtraction, scale: float = 1.0) -> Image.Image:
    """Image | curve map (dark = strong) | Canny edges, with the agreement in the title."""
    e = extraction
    curve = to_pil(1.0 - e.curve_map)
    edges = to_pil(1.0 - e.edges.astype(np.float32))
    p = e.params
    labels = ["image", f"curve map ({p.get('method', '')})",
              f"Canny sigma {p.get('canny_sigma')}, {p.get('canny_low')}..{p.get('canny_high')}"]
    row = side_by_side([to_pil(as_rgb(e.image)), curve, edges], labels, scale=scale)
    title = (f"curve extraction: {len(e.units)} units; {e.agreement:.0%} of curve pixels within "
             f"{p.get('tolerance')} px of a Canny edge")
    return _with_title(row, title, scale)


def _text_line(text: str, scale: float) -> Image.Image:
    size = max(9, int(round(13 * scale)))
    width = int(round(8 + len(text) * size * 0.6))
    canvas = Image.new("RGB", (width, size + int(round(8 * scale))), "white")
    ImageDraw.Draw(canvas).text((int(round(4 * scale)), int(round(3 * scale))), text, fill="black",
                                font=font(size))
    return canvas


def _with_title(image: Image.Image, title: str, scale: float) -> Image.Image:
    return stack([_text_line(title, scale), image], gap=round(4 * scale)) if title else image

