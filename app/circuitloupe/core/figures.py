"""Arrays to figures to PNG: the one place both the CLI and the GUI's "Export PNG…" render.

Image figures (grids, heatmaps, overlays) are drawn with Pillow; plots (curves, histograms,
polar tuning) with matplotlib's Agg backend, imported only when a plot is made. Every function
takes ``scale`` and returns a PIL image; :func:`save_png` writes it atomically.
"""

from __future__ import annotations

import io
import os
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from circuitloupe.core.paths import atomic_write_bytes

# Distill Circuits convention: negative blue #0571b0, zero white, positive red #ca0020.
DIVERGING_STOPS = ("#0571b0", "#92c5de", "#f7f7f7", "#f4a582", "#ca0020")


def _hex(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float32) / 255.0


def diverging_lut(n: int = 256) -> np.ndarray:
    """[n, 3] float RGB lookup table from blue (-1) through white (0) to red (+1)."""
    stops = np.stack([_hex(c) for c in DIVERGING_STOPS])
    positions = np.linspace(0, 1, len(stops))
    t = np.linspace(0, 1, n)
    return np.stack([np.interp(t, positions, stops[:, k]) for k in range(3)], axis=1)


def diverging_rgb(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Signed values -> [..., 3] RGB in [0, 1]; ``vmax`` (default max |value|) maps to full red/blue."""
    values = np.asarray(values, dtype=np.float32)
    vmax = float(np.abs(values).max()) if vmax is None else float(vmax)
    t = 0.5 + 0.5 * values / (vmax if vmax > 0 else 1.0)
    lut = diverging_lut()
    return lut[np.clip((t * (len(lut) - 1)).round().astype(int), 0, len(lut) - 1)]


def sequential_rgb(values: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                   cmap: str = "magma") -> np.ndarray:
    """Values -> [..., 3] RGB in [0, 1] through a matplotlib colormap (``magma``, ``viridis``...)."""
    from matplotlib import colormaps

    values = np.asarray(values, dtype=np.float32)
    lo = float(values.min()) if vmin is None else vmin
    hi = float(values.max()) if vmax is None else vmax
    t = (values - lo) / (hi - lo if hi > lo else 1.0)
    return colormaps[cmap](np.clip(t, 0, 1))[..., :3].astype(np.float32)


def to_pil(array: np.ndarray) -> Image.Image:
    """[H, W], [H, W, 1] or [H, W, 3] floats in [0, 1] (or uint8) -> PIL image."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def upscale(image: Image.Image, size: int | tuple[int, int], smooth: bool = False) -> Image.Image:
    """Resize to ``size`` (an int is the longer side); nearest by default so pixels stay crisp."""
    if isinstance(size, int):
        w, h = image.size
        size = (size, max(1, round(h * size / w))) if w >= h else (max(1, round(w * size / h)), size)
    return image.resize(size, Image.BILINEAR if smooth else Image.NEAREST)


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


def tile_grid(tiles: Sequence[Image.Image | np.ndarray], labels: Sequence[str] | None = None,
              columns: int | None = None, tile_size: int = 96, scale: float = 1.0, pad: int = 4,
              background: str = "white", title: str | None = None) -> Image.Image:
    """Tiles in a grid with an optional label under each, and an optional title on top."""
    tiles = [t if isinstance(t, Image.Image) else to_pil(t) for t in tiles]
    n = len(tiles)
    columns = columns or max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, int(np.ceil(n / columns)))
    size, gap = int(round(tile_size * scale)), int(round(pad * scale))
    text = font(max(8, int(round(11 * scale))))
    label_h = int(round(14 * scale)) if labels else 0
    title_h = int(round(20 * scale)) if title else 0
    title_font = font(max(9, int(round(14 * scale))))
    title_w = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(title, font=title_font)) + 2 * gap if title else 0
    width = max(columns * (size + gap) + gap, title_w)
    height = title_h + rows * (size + label_h + gap) + gap
    canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, gap // 2), title, fill="black", font=title_font)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        x = gap + c * (size + gap)
        y = title_h + gap + r * (size + label_h + gap)
        canvas.paste(upscale(tile.convert("RGB"), (size, size)), (x, y))
        if labels:
            draw.text((x, y + size + 1), labels[i], fill="black", font=text)
    return canvas


def side_by_side(images: Sequence[Image.Image], labels: Sequence[str] | None = None, height: int = 224,
                 scale: float = 1.0) -> Image.Image:
    """Images in one row at a common height, with labels below."""
    h = int(round(height * scale))
    resized = [upscale(im.convert("RGB"), (max(1, round(im.width * h / im.height)), h), smooth=True)
               for im in images]
    gap = int(round(6 * scale))
    label_h = int(round(16 * scale)) if labels else 0
    canvas = Image.new("RGB", (sum(im.width for im in resized) + gap * (len(resized) + 1), h + 2 * gap + label_h),
                       "white")
    draw = ImageDraw.Draw(canvas)
    x = gap
    for i, im in enumerate(resized):
        canvas.paste(im, (x, gap))
        if labels:
            draw.text((x, gap + h + 2), labels[i], fill="black", font=font(max(8, int(round(12 * scale)))))
        x += im.width + gap
    return canvas


def stack(images: Sequence[Image.Image], vertical: bool = True, gap: int = 0) -> Image.Image:
    """Images on white, ``gap`` px apart: top to bottom (left-aligned) or left to right
    (vertically centred)."""
    images = [im.convert("RGB") for im in images]
    along = sum(im.height if vertical else im.width for im in images) + gap * (len(images) - 1)
    across = max(im.width if vertical else im.height for im in images)
    canvas = Image.new("RGB", (across, along) if vertical else (along, across), "white")
    offset = 0
    for im in images:
        canvas.paste(im, (0, offset) if vertical else (offset, (across - im.height) // 2))
        offset += (im.height if vertical else im.width) + gap
    return canvas


def heat_overlay(image: np.ndarray, heat: np.ndarray, signed: bool = True, opacity: float = 0.6,
                 clip_percentile: float = 99.5) -> np.ndarray:
    """Blend a heat map over a grayscale copy of ``image`` ([H, W, 3] in [0, 1]) -> [H, W, 3].

    ``heat`` is resized to the image; values beyond ``clip_percentile`` of |heat| saturate.
    Signed maps use the red/blue convention; unsigned ones magma.
    """
    h, w = image.shape[:2]
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != (h, w):
        heat = resize2d(heat, (h, w))
    limit = float(np.percentile(np.abs(heat), clip_percentile)) or 1.0
    gray = image.mean(axis=2, keepdims=True).repeat(3, axis=2)
    if signed:
        colour = diverging_rgb(np.clip(heat, -limit, limit), limit)
        weight = np.clip(np.abs(heat) / limit, 0, 1)[..., None] * opacity
    else:
        colour = sequential_rgb(np.clip(np.abs(heat), 0, limit), 0, limit)
        weight = np.full((h, w, 1), opacity, dtype=np.float32)
    return gray * (1 - weight) + colour * weight


def resize2d(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[H, W] values resized bilinearly to ``size`` (rows, columns), float32."""
    image = Image.fromarray(values.astype(np.float32), mode="F")
    return np.asarray(image.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float32)


def activation_figure(image: np.ndarray, activation: np.ndarray, title: str, scale: float = 1.0) -> Image.Image:
    """The input image beside one unit's activation map (magma) and their overlay."""
    amap = sequential_rgb(activation)
    overlay = heat_overlay(image, activation, signed=False)
    return side_by_side([to_pil(image), to_pil(amap), to_pil(overlay)],
                        [title, f"activation {activation.min():.3g}..{activation.max():.3g}", "overlay"],
                        scale=scale)


def plot_to_image(fig) -> Image.Image:
    """Render a matplotlib figure to a PIL image (and close it)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight")
    plt.close(fig)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def new_plot(width: float = 5.0, height: float = 3.5, scale: float = 1.0, polar: bool = False):
    """A matplotlib (figure, axes) on the Agg backend, ``scale`` times 100 dpi."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height), dpi=100 * scale)
    ax = fig.add_subplot(111, projection="polar" if polar else None)
    return fig, ax


def save_png(image: Image.Image | np.ndarray, path: str | os.PathLike) -> None:
    """Write a figure to ``path`` as PNG, atomically."""
    image = image if isinstance(image, Image.Image) else to_pil(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
