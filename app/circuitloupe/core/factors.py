"""Factors: non-negative combinations of a layer's units, and circuits between factors.

Circuits such as high-low frequency detectors are clearer between factors than between single
units. :func:`factorise` runs a layer over a folder of images, samples positions of its
(post-ReLU, non-negative) activations and factorises them with scikit-learn's NMF:
``X [positions, channels] ~ W [positions, K] @ H [K, channels]``. Each factor is a direction
``H[k]`` over the channels (reported normalised to unit length) with its top examples (the
positions where ``W[:, k]`` is largest). ``explained`` is the fraction of variance explained,
``1 - |X - WH|^2 / |X - mean(X)|^2``.

:func:`factor_circuit` projects expanded weights onto factors: the kernel from factor a of an
earlier layer into factor b of a later one is ``sum_j sum_i b_j a_i E[j, i]``, exact because
the linearised expanded weights ``E`` are linear in both the source and the destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, no_progress
from circuitloupe.core.models.base import LoadedModel

MAX_POSITIONS = 20_000  # positions sampled for the factorisation (seeded)


@dataclass
class Factors:
    """``directions`` [K, C] (unit length); ``examples[k]``: (file, y, x, value), best first."""

    layer: str
    directions: np.ndarray
    explained: float
    examples: list[list[tuple[str, int, int, float]]]
    positions: int

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "k": len(self.directions), "explained": self.explained,
                "positions": self.positions,
                "factors": [{"index": k, "channel_weights": self.directions[k].tolist(),
                             "top_channels": [int(c) for c in np.argsort(-self.directions[k])[:8]],
                             "top_examples": [{"file": f, "y": y, "x": x, "value": v} for f, y, x, v in ex]}
                            for k, ex in enumerate(self.examples)]}


def _layer_positions(model: LoadedModel, layer: str, folder: str, batch_size: int, should_stop: StopFn | None,
                     progress: ProgressFn) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Every position's channel vector [N, C] of ``layer`` over the folder, and where each is."""
    import torch

    from circuitloupe.core.activations import forward_until
    from circuitloupe.core.dataset.folder import readable_batches, walk_folder
    from circuitloupe.core.images import to_batch

    files = [entry.relpath for entry in walk_folder(folder).images]
    if not files:
        raise UserError(f"{folder} holds no images")
    rows, where = [], []
    batches = -(-len(files) // batch_size)
    for b, names, arrays in readable_batches(folder, files, batch_size, model.in_channels, should_stop):
        maps = forward_until(model, to_batch(arrays, model.input_size), [layer])[layer]
        maps = maps if maps.dim() == 4 else maps.reshape(maps.shape[0], -1, 1, 1)
        maps = torch.clamp(maps, min=0).permute(0, 2, 3, 1).cpu().numpy()
        n, h, w, c = maps.shape
        rows.append(maps.reshape(-1, c))
        where += [(name, y, x) for name in names for y in range(h) for x in range(w)]
        progress(b + 1, batches + 1)
    if not rows:
        raise UserError(f"no image of {folder} could be read")
    return np.concatenate(rows).astype(np.float64), where


def factorise(model: LoadedModel, layer: str, folder: str, k: int = 6, batch_size: int = 16, seed: int = 0,
              examples: int = 6, progress: ProgressFn = no_progress, should_stop: StopFn | None = None) -> Factors:
    """NMF of ``layer``'s activations over the images of ``folder`` into ``k`` factors."""
    from sklearn.decomposition import NMF

    name = model.catalogue.layer(layer).name
    if not 1 <= k <= model.catalogue.layer(name).channels:
        raise UserError(f"--k must be between 1 and the {model.catalogue.layer(name).channels} channels of {name}")
    x, where = _layer_positions(model, name, folder, batch_size, should_stop, progress)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(x), MAX_POSITIONS, replace=False)) if len(x) > MAX_POSITIONS else np.arange(len(x))
    x, where = x[keep], [where[i] for i in keep]
    if not np.any(x > 0):
        raise UserError(f"{name} never fires on these images; there is nothing to factorise")
    nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=2000, tol=1e-6)
    w = nmf.fit_transform(x)
    h = nmf.components_
    residual = float(((x - w @ h) ** 2).sum())
    total = float(((x - x.mean(axis=0)) ** 2).sum())
    norms = np.linalg.norm(h, axis=1, keepdims=True)
    w, h = w * norms.T, h / np.where(norms > 0, norms, 1.0)
    order = np.argsort(-w.sum(axis=0), kind="stable")  # strongest factor first
    w, h = w[:, order], h[order]
    tops = [[(where[i][0], int(where[i][1]), int(where[i][2]), float(w[i, j]))
             for i in np.argsort(-w[:, j], kind="stable")[:examples]] for j in range(k)]
    progress(1, 1)
    return Factors(name, h.astype(np.float32), 1.0 - residual / total if total > 0 else 0.0, tops, len(x))


def factor_circuit(model: LoadedModel, source: Factors, target: Factors, chunk: int = 64) -> np.ndarray:
    """Expanded weights from each source factor into each target factor: [K_target, K_source, kh, kw]."""
    from circuitloupe.core import weights as W
    from circuitloupe.core.units import UnitRef

    channels = target.directions.shape[1]
    kernels = None
    for start in range(0, channels, chunk):
        units = [UnitRef(target.layer, c) for c in range(start, min(channels, start + chunk))]
        part = W.gradient_weights(model, units, source.layer)  # [n, C_src, kh, kw]
        projected = np.einsum("ai,nikl->nakl", source.directions, part)
        contribution = np.einsum("bn,nakl->bakl", target.directions[:, start:start + len(units)], projected)
        kernels = contribution if kernels is None else kernels + contribution
    return kernels.astype(np.float32)


def transpose_similarity(circuit: np.ndarray, other: np.ndarray) -> float:
    """Cosine similarity of one factor circuit's kernel totals with the transpose of another's
    ([K, K] each): 1 when ``other`` runs the same connections the other way round."""
    a = circuit.sum(axis=(2, 3)).ravel()
    b = other.sum(axis=(2, 3)).T.ravel()
    if a.shape != b.shape:
        raise UserError("the circuits have different numbers of factors; the transpose cannot be compared")
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denominator) if denominator > 0 else 0.0


def factors_figure(model: LoadedModel, factors: Factors, visualisations: Sequence[np.ndarray] | None, folder: str,
                   scale: float = 1.0, circuit: np.ndarray | None = None, target: Factors | None = None):
    """One row per factor: its feature visualisation, its top channels as a bar chart and its top
    examples (receptive-field crops); with ``circuit``, the factor circuit grid below."""
    from circuitloupe.core.figures import new_plot, plot_to_image

    k = len(factors.directions)
    shown = min(4, len(factors.examples[0]) if factors.examples else 0)
    fig, _ = new_plot(2.0 + 1.6 + 1.0 * shown, 1.15 * k + 0.6 + (2.4 if circuit is not None else 0), scale)
    fig.clear()
    rows = k + (1 if circuit is not None else 0)
    grid = fig.add_gridspec(rows, 2 + shown, width_ratios=[1, 1.6] + [1] * shown,
                            height_ratios=[1] * k + ([2.2] if circuit is not None else []))
    crops = _example_crops(model, factors, folder, shown)
    for j in range(k):
        ax = fig.add_subplot(grid[j, 0])
        if visualisations is not None:
            ax.imshow(visualisations[j])
        ax.set_axis_off()
        ax.set_title(f"factor {j}", fontsize=7)
        ax = fig.add_subplot(grid[j, 1])
        top = np.argsort(-factors.directions[j])[:6]
        ax.barh(range(len(top)), factors.directions[j][top][::-1], color="0.4")
        ax.set_yticks(range(len(top)), [str(c) for c in top[::-1]], fontsize=6)
        ax.tick_params(axis="x", labelsize=6)
        for e in range(shown):
            ax = fig.add_subplot(grid[j, 2 + e])
            ax.imshow(crops[j][e])
            ax.set_axis_off()
    if circuit is not None and target is not None:
        ax = fig.add_subplot(grid[k, :])
        totals = circuit.sum(axis=(2, 3))
        limit = float(np.abs(totals).max()) or 1.0
        image = ax.imshow(totals, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xticks(range(totals.shape[1]))
        ax.set_yticks(range(totals.shape[0]))
        ax.set_xlabel(f"{factors.layer} factor", fontsize=7)
        ax.set_ylabel(f"{target.layer} factor", fontsize=7)
        ax.tick_params(labelsize=6)
        fig.colorbar(image, ax=ax, fraction=0.03)
    fig.suptitle(f"{factors.layer}: {k} factors explain {factors.explained:.0%} of the variance", fontsize=9)
    fig.tight_layout()
    return plot_to_image(fig)


def _example_crops(model: LoadedModel, factors: Factors, folder: str, count: int) -> list[list[np.ndarray]]:
    from circuitloupe.core.dataset.receptive import crop, receptive_field
    from circuitloupe.core.images import load_image, to_batch

    field = receptive_field(model, factors.layer, model.input_size)
    crops = []
    for examples in factors.examples:
        row = []
        for file, y, x, _ in examples[:count]:
            image = to_batch([load_image(Path(folder) / file, model.in_channels)], model.input_size)[0]
            row.append(np.clip(crop(image.permute(1, 2, 0).numpy(), field, y, x), 0, 1))
        crops.append(row)
    return crops
