"""Candidate families (flip pairs, rotation cycles) among all units of a layer, and saved families."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.equivariance.analysis import measure
from circuitloupe.core.equivariance.transforms import prepare, synthetic_stimuli, transform_values
from circuitloupe.core.jobs import ProgressFn, StopFn
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

# --------------------------------------------------------------------------- discovery

@dataclass
class Candidate:
    """A candidate family found in a layer: units in mapping order, and the mean correlation
    of each unit's responses with its successor's on transformed stimuli (1 = perfect)."""

    kind: str
    units: list[str]
    strength: float
    cyclic: bool

    @property
    def name(self) -> str:
        shape = "pair" if self.kind == "flip" else ("cycle" if self.cyclic else "chain")
        return f"{self.kind} {shape}: {', '.join(self.units)} (r = {self.strength:.2f})"


def discover(model: LoadedModel, layer: str, kind: str, steps: int | None = None,
             stimuli: torch.Tensor | np.ndarray | None = None, reduce: str = "centre",
             min_correlation: float = 0.8, progress: ProgressFn | None = None,
             should_stop: StopFn | None = None) -> list[Candidate]:
    """Candidate flip pairs or rotation/hue/scale families among all units of ``layer``.

    Unit j follows unit i when j's responses to transformed stimuli correlate best with i's
    responses to the originals, and i is also j's best predecessor (mutual best match) with a
    correlation of at least ``min_correlation``; a unit that follows itself is left out.
    Chains of followers of at least two units (flip: mutual pairs) are returned, strongest first.
    """
    info = model.catalogue.layer(layer)
    units = [UnitRef(info.name, c) for c in range(info.channels)]
    values = transform_values(kind, steps)
    if stimuli is None:
        stimuli = synthetic_stimuli(model.input_size[0], colour=model.in_channels == 3)
    responses = measure(model, units, prepare(model, stimuli), kind, values[:2], reduce,
                        progress=progress, should_stop=should_stop)
    corr = _cross_correlation(responses[0], responses[1])  # corr[i, j] = corr(F_i(x), F_j(g x))
    follower = np.argmax(corr, axis=1)
    leader = np.argmax(corr, axis=0)
    links = {i: int(follower[i]) for i in range(len(units))
             if leader[follower[i]] == i and corr[i, follower[i]] >= min_correlation and follower[i] != i}
    names = [str(u) for u in units]
    found: list[Candidate] = []
    if kind == "flip":
        for i, j in links.items():
            if i < j and links.get(j) == i:
                found.append(Candidate(kind, [names[i], names[j]], float((corr[i, j] + corr[j, i]) / 2), True))
    else:
        starts = set(links) - set(links.values())
        seen: set[int] = set()
        for start in sorted(starts) + sorted(set(links) - starts):
            if start in seen:
                continue
            chain, node = [start], start
            while node in links and links[node] not in chain and links[node] not in seen:
                node = links[node]
                chain.append(node)
            seen.update(chain)
            cyclic = links.get(chain[-1]) == chain[0]
            if len(chain) >= 2:
                strength = float(np.mean([corr[a, links[a]] for a in chain if a in links]))
                found.append(Candidate(kind, [names[c] for c in chain], strength, cyclic))
    return sorted(found, key=lambda c: (-len(c.units) if kind != "flip" else 0, -c.strength))


def _cross_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``a`` [N, U] with every column of ``b`` [N, U]."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    na = np.sqrt((a ** 2).sum(axis=0))
    nb = np.sqrt((b ** 2).sum(axis=0))
    denom = np.outer(na, nb)
    return np.where(denom > 1e-12, (a.T @ b) / np.where(denom > 1e-12, denom, 1.0), 0.0)


def saved_families(model: LoadedModel) -> dict[str, list[str]]:
    """The families the user saved for this model, from its annotation store (the one the browser
    and the curve finder use): ``{name: ["layer:ch", ...]}``."""
    return {name: [str(u) for u in units] for name, units in AnnotationStore.for_model(model).families().items()}


def save_family(model: LoadedModel, name: str, units: Sequence[UnitRef | str]) -> Path:
    """Add (or replace) a named family in the model's annotation store; returns the store's file."""
    store = AnnotationStore.for_model(model)
    store.save_family(name, [model.catalogue.unit(u) for u in units])
    return store.path
