"""First-layer RGB filters, and the rotated copies of p4 group-convolution filters (models
whose ``extras["group_layer"]`` says so), with their figures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from torch import nn

from circuitloupe.core import figures
from circuitloupe.core.errors import UserError
from circuitloupe.core.layers import last_module_before
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.weights.figures import colour_key, weight_rgb

# ---------------------------------------------------------------------------------------------
# First-layer filters

def first_layer_conv(model: LoadedModel, layer: str | None = None) -> nn.Conv2d:
    """The conv producing ``layer`` (the last conv run up to it), or the first conv taking 3 channels."""
    convs = [m for m in model.net.modules() if isinstance(m, nn.Conv2d)]
    if layer is None:
        for conv in convs:
            if conv.in_channels == 3 and conv.groups == 1:
                return conv
        raise UserError("this model has no conv layer with 3 input channels")
    catalogue = model.catalogue
    name = catalogue.layer(layer).name
    for candidate in (name, catalogue.pre_relu_of(name)):
        if candidate is not None and isinstance(model.hook_points[candidate], nn.Conv2d):
            return model.hook_points[candidate]
    found = last_module_before(model, name, convs)
    if found is None:
        raise UserError(f"no conv layer runs before {name}")
    return found


def first_layer_filters(model: LoadedModel, layer: str | None = None) -> np.ndarray:
    """First-layer filters as RGB: [N, kh, kw, 3] float32 (raw weights, signed).

    ``layer`` names the conv (or its ReLU); default: the first conv with 3 input channels.
    """
    conv = first_layer_conv(model, layer)
    if conv.in_channels != 3 or conv.groups != 1:
        raise UserError(f"{layer or 'that layer'} takes {conv.in_channels} input channels; only filters "
                        "with 3 input channels show as RGB images")
    return conv.weight.detach().permute(0, 2, 3, 1).float().cpu().numpy()


def filter_grid_figure(filters: np.ndarray, per_filter_scaling: bool = True, scale: float = 1.0,
                       columns: int | None = None, tile_size: int = 48, title: str | None = None) -> Image.Image:
    """RGB filters ([N, kh, kw, 3]) as an indexed grid of tiles, grey = 0.

    Each filter maps 0.5 + 0.5 * w / m to [0, 1], where m is its own max |w| (per-filter scaling)
    or the max |w| over all filters (shared scaling, which keeps strengths comparable).
    """
    filters = np.asarray(filters, dtype=np.float32)
    if filters.ndim != 4 or filters.shape[-1] != 3:
        raise UserError(f"filters must be [N, kh, kw, 3], not {list(filters.shape)}")
    if per_filter_scaling:
        limit = np.abs(filters).reshape(len(filters), -1).max(1)[:, None, None, None]
    else:
        limit = np.full((len(filters), 1, 1, 1), np.abs(filters).max())
    tiles = 0.5 + 0.5 * filters / np.where(limit > 0, limit, 1.0)
    columns = columns or max(1, int(np.ceil(np.sqrt(len(filters)) * 1.25)))
    return figures.tile_grid(list(tiles), [str(i) for i in range(len(filters))], columns=columns,
                             tile_size=tile_size, scale=scale, title=title)


# ---------------------------------------------------------------------------------------------
# Rotated copies of p4 group-convolution filters (models whose ``extras["group_layer"]`` says so)

#: The p4 rotations, counter-clockwise on screen (``torch.rot90`` with ``k = r``).
ROTATION_DEGREES = (0, 90, 180, 270)


def is_group_layer(model: LoadedModel, layer: str) -> bool:
    """Whether ``layer``'s channels are (channel, rotation) pairs: unit ``c * 4 + r``.

    Read from the model's ``extras["group_layer"](name)`` (the p4 group CNNs provide it).
    """
    test = model.extras.get("group_layer")
    return test is not None and bool(test(model.catalogue.layer(layer).name))


def group_layers(model: LoadedModel) -> list[str]:
    """The group layers of ``model`` in execution order, without their pre-ReLU twins."""
    return [info.name for info in model.catalogue if not info.is_pre_relu and is_group_layer(model, info.name)]


def rotated_kernels(model: LoadedModel, layer: str) -> np.ndarray:
    """The kernels a group layer's convolution applies for each output rotation r = 0..3.

    Returns [C_out, 4, C_in, J, kh, kw] float32: J = 1 for the lifting layer (image input),
    J = 4 input rotations for a group convolution. Copy r is the stored kernel rotated by r * 90
    degrees counter-clockwise and, for group convolutions, its input-rotation axis rolled by r,
    exactly as the layer applies it (raw weights: a group convolution also multiplies its output
    by the Haar measure 2π/4). The model provides them (``LoadedModel.rotated_kernels``).
    """
    name = model.catalogue.layer(layer).name
    if model.rotated_kernels is None or not is_group_layer(model, name):
        raise UserError(f"{name} is not a p4 group layer; rotated filter copies exist only for group convolutions")
    return model.rotated_kernels(model, name)


def select_input_channel(kernels: np.ndarray, input_channel: int | None = None) -> np.ndarray:
    """[C_out, 4, C_in, J, kh, kw] -> [C_out, 4, J, kh, kw]: one input channel's slice, or the sum
    over input channels when ``input_channel`` is None (for the lifting layer both are its one map)."""
    if input_channel is None:
        return kernels.sum(axis=2, dtype=np.float64).astype(np.float32)
    if not 0 <= input_channel < kernels.shape[2]:
        raise UserError(f"this layer has input channels 0..{kernels.shape[2] - 1}, not {input_channel}")
    return np.ascontiguousarray(kernels[:, :, input_channel])


def input_channel_note(inputs: int, input_channel: int | None) -> str:
    """`` (sum over input channels)`` / `` (input channel 3)`` for figure titles; empty with one input."""
    if inputs == 1:
        return ""
    return " (sum over input channels)" if input_channel is None else f" (input channel {input_channel})"


def rotated_filter_copies(model: LoadedModel, layer: str, input_channel: int | None = None) -> np.ndarray:
    """Each filter's four rotated copies: [C_out, 4, J, kh, kw] (see :func:`rotated_kernels`).

    Filter o at rotation r is unit ``layer:o*4+r``. ``input_channel`` picks one input channel's
    [J, kh, kw] slice; None sums over input channels.
    """
    return select_input_channel(rotated_kernels(model, layer), input_channel)


@dataclass(frozen=True)
class CopiesLayout:
    """Where :func:`rotated_copies_figure` puts each map, in figure pixels, for hit tests.

    Filter o's copy for rotation r sits in row o and column r; its map for input rotation j has
    its top-left corner at ``(origin_x + r * column_step + j * (size + map_gap), origin_y + o * row_step)``
    and is ``size`` pixels square.
    """

    origin_x: int
    origin_y: int
    column_step: int
    row_step: int
    size: int
    map_gap: int
    filters: int
    maps: int

    def map_at(self, x: float, y: float, kh: int, kw: int) -> tuple[int, int, int, int, int] | None:
        """(filter, rotation, input rotation, kernel row, kernel column) under (x, y), or None."""
        r, dx = divmod(x - self.origin_x, self.column_step)
        o, dy = divmod(y - self.origin_y, self.row_step)
        j, dx = divmod(dx, self.size + self.map_gap)
        if not (0 <= r < 4 and 0 <= o < self.filters and j < self.maps and dx < self.size and dy < self.size):
            return None
        return int(o), int(r), int(j), int(dy * kh // self.size), int(dx * kw // self.size)


def copies_layout(filters: int, maps: int, scale: float = 1.0) -> CopiesLayout:
    """The layout of :func:`rotated_copies_figure` for ``filters`` rows of ``maps`` maps per copy."""
    size = int(round((56 if maps == 1 else 30) * scale))
    map_gap, column_gap = max(1, int(round(3 * scale))), int(round(12 * scale))
    label_w, title_h = int(round(30 * scale)), int(round(24 * scale))
    header_h = int(round((16 if maps == 1 else 30) * scale))
    step = maps * size + (maps - 1) * map_gap + column_gap
    return CopiesLayout(label_w, title_h + header_h, step, size + int(round(4 * scale)), size, map_gap, filters, maps)


def rotated_copies_figure(copies: np.ndarray, scale: float = 1.0, title: str | None = None) -> Image.Image:
    """Rotated filter copies ([C_out, 4, J, kh, kw]) as a grid: rows = filters, columns = rotations.

    Each cell holds the copy's J maps side by side (J = 4: input rotations j = 0..3, left to
    right); all maps share one red (positive) / white / blue (negative) scale, with a colour key.
    Layout: :func:`copies_layout`.
    """
    copies = np.asarray(copies, dtype=np.float32)
    if copies.ndim != 5 or copies.shape[1] != 4:
        raise UserError(f"rotated copies must be [C_out, 4, J, kh, kw], not {list(copies.shape)}")
    n, _, maps = copies.shape[:3]
    grid = copies_layout(n, maps, scale)
    limit = float(np.abs(copies).max()) or 1.0
    key_h = int(round(22 * scale))
    title = title or f"{n} filters x 4 rotations (shared scale ±{limit:.3g})"
    title_font = figures.font(max(9, int(round(14 * scale))))
    title_w = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(title, font=title_font)) + 8
    width = max(grid.origin_x + 4 * grid.column_step, int(round(300 * scale)), title_w)
    height = grid.origin_y + n * grid.row_step + key_h
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), title, fill="black", font=title_font)
    face = figures.font(max(8, int(round(11 * scale))))
    small = figures.font(max(7, int(round(9 * scale))))
    for r, degrees in enumerate(ROTATION_DEGREES):
        x = grid.origin_x + r * grid.column_step
        draw.text((x, grid.origin_y - int(round((15 if maps == 1 else 29) * scale))), f"r={r} ({degrees}°)",
                  fill="black", font=face)
        for j in range(maps if maps > 1 else 0):
            draw.text((x + j * (grid.size + grid.map_gap), grid.origin_y - int(round(13 * scale))), f"j={j}",
                      fill=(90, 90, 90), font=small)
    rgb = weight_rgb(copies, limit)
    for o in range(n):
        y = grid.origin_y + o * grid.row_step
        draw.text((2, y + grid.size // 2 - int(round(6 * scale))), str(o), fill="black", font=face)
        for r in range(4):
            for j in range(maps):
                x = grid.origin_x + r * grid.column_step + j * (grid.size + grid.map_gap)
                canvas.paste(figures.upscale(figures.to_pil(rgb[o, r, j]), (grid.size, grid.size)), (x, y))
    colour_key(canvas, draw, grid.origin_x, height - key_h + int(round(6 * scale)), limit, scale, magnitude=False)
    return canvas
