"""How polysemantic a unit is: two measurements, each in [0, 1].

- **Feature visualisations**: ``k`` diverse images of the unit (the featvis cache's diversity
  objective) are embedded by their layer's activations averaged over positions, leaving the unit's
  own channel out (every image excites it). The score is the mean pairwise cosine *distance*
  between them, clipped to [0, 1]: near 0 when the diverse images show one thing.
- **Dataset examples**: the unit's top examples over a folder (each image's strongest position)
  are embedded by the layer's channel vector at that position (the unit's own channel left out)
  and clustered with k-means for 2, 3 and 4 clusters; the score is the best silhouette (cosine),
  clipped to [0, 1], and the clusters are those of the best k. A unit that answers to two
  different things has examples that fall into well separated groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


@dataclass
class Polysemanticity:
    unit: UnitRef
    featvis_score: float
    examples_score: float | None  # None without a folder, or with too few examples
    images: np.ndarray  # the diverse feature visualisations [k, H, W, 3]
    examples: list[tuple[str, int, int, float]]  # (file, y, x, value), best first
    clusters: list[list[int]]  # indices into ``examples``

    @property
    def score(self) -> float:
        """The mean of the available scores."""
        scores = [self.featvis_score] + ([self.examples_score] if self.examples_score is not None else [])
        return float(np.mean(scores))

    def to_json(self) -> dict[str, Any]:
        return {"unit": str(self.unit), "score": self.score, "featvis_score": self.featvis_score,
                "examples_score": self.examples_score,
                "examples": [{"file": f, "y": y, "x": x, "value": v} for f, y, x, v in self.examples],
                "clusters": self.clusters}


def _others(vectors: np.ndarray, channel: int) -> np.ndarray:
    return np.delete(vectors, channel, axis=1)


def _cosine_distances(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    return 1.0 - unit @ unit.T


def featvis_dissimilarity(model: LoadedModel, unit: UnitRef, images: np.ndarray) -> float:
    """Mean pairwise cosine distance of the images' layer embeddings (unit's channel left out)."""
    import torch

    from circuitloupe.core.activations import forward_until

    maps = forward_until(model, torch.as_tensor(images).permute(0, 3, 1, 2), [unit.layer])[unit.layer]
    maps = maps if maps.dim() == 4 else maps.reshape(maps.shape[0], -1, 1, 1)
    vectors = _others(maps.clamp(min=0).mean(dim=(2, 3)).double().cpu().numpy(), unit.channel)
    distances = _cosine_distances(vectors)[np.triu_indices(len(vectors), 1)]
    return float(np.clip(distances.mean(), 0.0, 1.0)) if distances.size else 0.0


def top_examples(model: LoadedModel, unit: UnitRef, folder: str, count: int, batch_size: int = 16,
                 should_stop: StopFn | None = None) -> tuple[list[tuple[str, int, int, float]], np.ndarray]:
    """Each image's strongest position for ``unit``, the ``count`` best, and the layer's channel
    vector there [count, C]."""
    from circuitloupe.core.activations import forward_until
    from circuitloupe.core.dataset.folder import readable_batches, walk_folder
    from circuitloupe.core.images import to_batch

    files = [entry.relpath for entry in walk_folder(folder).images]
    found: list[tuple[str, int, int, float]] = []
    vectors = []
    for _, names, arrays in readable_batches(folder, files, batch_size, model.in_channels, should_stop):
        maps = forward_until(model, to_batch(arrays, model.input_size), [unit.layer])[unit.layer]
        maps = (maps if maps.dim() == 4 else maps.reshape(maps.shape[0], -1, 1, 1)).double().cpu().numpy()
        for name, m in zip(names, maps):
            y, x = np.unravel_index(int(np.argmax(m[unit.channel])), m.shape[1:])
            found.append((name, int(y), int(x), float(m[unit.channel, y, x])))
            vectors.append(np.clip(m[:, y, x], 0, None))
    if not found:
        raise UserError(f"{folder} holds no readable images")
    order = sorted(range(len(found)), key=lambda i: (-found[i][3], found[i][0]))[:count]
    return [found[i] for i in order], np.array([vectors[i] for i in order])


def cluster_examples(vectors: np.ndarray, seed: int = 0) -> tuple[float, list[list[int]]]:
    """Best cosine silhouette over k = 2..4 k-means clusterings, and that clustering."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    best, clusters = 0.0, [list(range(len(vectors)))]
    distinct = len(np.unique(np.round(unit, 6), axis=0))  # k-means cannot make more clusters than points
    for k in range(2, min(4, len(vectors) - 1, distinct) + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(unit)
        if len(set(labels)) < 2:
            continue
        score = float(silhouette_score(unit, labels, metric="cosine"))
        if score > best:
            best = score
            clusters = [[int(i) for i in np.flatnonzero(labels == c)] for c in sorted(set(labels))]
    return float(np.clip(best, 0.0, 1.0)), clusters


def polysemanticity(model: LoadedModel, unit: UnitRef | str, folder: str | None = None, diverse: int = 4,
                    examples: int = 24, size: int = 64, steps: int = 128, progress: ProgressFn = no_progress,
                    should_stop: StopFn | None = None) -> Polysemanticity:
    """Both scores of ``unit`` (see the module)."""
    from circuitloupe.core.featurevis.cache import Settings, visualise_units

    ref = model.catalogue.unit(unit)
    if not 2 <= diverse <= 16 or not 4 <= examples <= 500:
        raise UserError("--diverse must be 2-16 images and --examples 4-500")
    vis = visualise_units(model, [ref], Settings(size=size, steps=steps, diversity=diverse), progress=progress,
                          should_stop=should_stop)[0]
    featvis_score = featvis_dissimilarity(model, ref, vis.images)
    found, clusters, examples_score = [], [], None
    if folder:
        found, vectors = top_examples(model, ref, folder, examples, should_stop=should_stop)
        if len(found) >= 4:
            examples_score, clusters = cluster_examples(_others(vectors, ref.channel))
    return Polysemanticity(ref, featvis_score, examples_score, vis.images, found, clusters)


def polysemanticity_figure(model: LoadedModel, result: Polysemanticity, folder: str | None, scale: float = 1.0):
    """The diverse feature visualisations, then one row of example crops per cluster."""
    from circuitloupe.core import figures
    from circuitloupe.core.dataset.receptive import crop, receptive_field
    from circuitloupe.core.images import load_image, to_batch

    tiles, labels = list(result.images), [f"diverse #{k + 1}" for k in range(len(result.images))]
    columns = max(len(result.images), 6)
    tiles += [np.ones_like(result.images[0])] * (columns - len(result.images))
    labels += [""] * (columns - len(labels))
    if folder and result.clusters:
        field = receptive_field(model, result.unit.layer, model.input_size)
        for c, members in enumerate(result.clusters):
            row = []
            for i in members[:columns]:
                file, y, x, value = result.examples[i]
                image = to_batch([load_image(Path(folder) / file, model.in_channels)], model.input_size)[0]
                row.append((np.clip(crop(image.permute(1, 2, 0).numpy(), field, y, x), 0, 1), f"cluster {c + 1}: {value:.3g}"))
            row += [(np.ones((8, 8, 3), np.float32), "")] * (columns - len(row))
            tiles += [t for t, _ in row]
            labels += [label for _, label in row]
    examples = "" if result.examples_score is None else f", examples {result.examples_score:.2f}"
    title = (f"{result.unit}: polysemanticity {result.score:.2f} (feature visualisations "
             f"{result.featvis_score:.2f}{examples})")
    return figures.tile_grid(tiles, labels, columns=columns, tile_size=96, scale=scale, title=title)
