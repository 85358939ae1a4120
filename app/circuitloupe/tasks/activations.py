"""activations: the activations of images at named layers (saved as an .npz)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.paths import atomic_write_bytes
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task
from circuitloupe.tasks.inputs import read_images


@dataclass(frozen=True)
class ActivationsRequest(Request):
    """``images`` (files or ``sample:NAME``) through the model, recorded at ``layers``. The figure
    shows ``channel`` of the first layer on the first image (None: the channel with the largest peak)."""

    command = "activations"

    images: tuple[str, ...] = positional(many=True)
    layers: tuple[str, ...] = option("--layers", many=True, default=())
    pre_relu: bool = flag("--pre-relu")
    channel: int | None = option("--channel", default=None)

    def validate(self) -> None:
        if not self.images:
            raise UserError("name at least one IMAGE")
        if not self.layers:
            raise UserError("name at least one layer (--layers mixed3a,mixed3b)")
        if self.channel is not None and self.channel < 0:
            raise UserError(f"--channel {self.channel} is out of range; channels count from 0")


@dataclass
class ActivationsResult(Result):
    """``arrays[layer]``: [images, C, H, W]; ``pixels``: the input images [H, W, 3]."""

    arrays: dict[str, np.ndarray]
    pixels: list[np.ndarray]

    def figure(self, scale: float = 1.0):
        """The first image beside the request's channel of the first layer (else its strongest: largest peak)."""
        from circuitloupe.core.figures import activation_figure

        layer, array = next(iter(self.arrays.items()))
        channel = self.request.channel  # type: ignore[attr-defined]
        title = f"{layer}:{channel}"
        if channel is None:
            channel = int(array[0].reshape(len(array[0]), -1).max(axis=1).argmax())
            title = f"{layer}:{channel} (strongest)"
        return activation_figure(self.pixels[0][..., :3], array[0, channel], title, scale)

    def data(self) -> dict[str, Any]:
        return {"shapes": {name: list(array.shape) for name, array in self.arrays.items()}}

    def save(self, path: str | Path, scale: float = 1.0) -> Path:
        """``.npz``: the arrays (:meth:`save_npz`); ``.png`` / ``.json`` as for every Result."""
        return self.save_npz(path) if Path(path).suffix.lower() == ".npz" else super().save(path, scale)

    def save_npz(self, path: str | Path) -> Path:
        """One compressed [images, C, H, W] array per layer, named by layer."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.arrays)
        atomic_write_bytes(path, buffer.getvalue())
        return Path(path)


@task(ActivationsRequest)
def activations(ctx: Context, request: ActivationsRequest) -> ActivationsResult:
    from circuitloupe.core.activations import capture
    from circuitloupe.core.images import to_batch

    model = ctx.model
    catalogue = model.catalogue
    layers = [catalogue.layer(name).name for name in request.layers]
    if request.pre_relu:
        missing = [name for name in layers if catalogue.pre_relu_of(name) is None]
        if missing:
            raise UserError(f"no pre-ReLU value for {', '.join(missing)}")
        layers = [catalogue.pre_relu_of(name) for name in layers]
    channels = catalogue.layer(layers[0]).channels
    if request.channel is not None and request.channel >= channels:
        raise UserError(f"--channel {request.channel} is out of range; {layers[0]} has {channels} channels")
    pixels = read_images(request.images, model.in_channels)
    ctx.progress(0, 1)
    arrays = capture(model, to_batch(pixels, model.input_size), layers)
    ctx.progress(1, 1)
    return ActivationsResult(request, model.spec, model.weights_id, arrays, pixels)
