"""What the browser's unit card shows, assembled in one job: the unit's top inputs (the expanded
task) and outputs (the outputs task), its cached thumbnail, and its top dataset examples from the
open atlas when it covers the unit, else from the scan cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef
from circuitloupe.tasks.base import Context, Result, run
from circuitloupe.tasks.expanded import ExpandedRequest, ExpandedResult
from circuitloupe.tasks.outputs import OutputsRequest, OutputsResult

Examples = list[tuple[np.ndarray, float]]


@dataclass
class UnitCard:
    """``inputs`` / ``outputs``: the Result, or why there is none (one line)."""

    unit: UnitRef
    inputs: ExpandedResult | str
    outputs: OutputsResult | str
    thumbnail: np.ndarray | None
    examples: Examples | None
    atlas: str | None  # the atlas's summary line for the unit (or why it could not be read)

    def ranked(self, key: str) -> list[tuple[UnitRef, float]] | str:
        """``key`` ("inputs" or "outputs") as (unit, norm), best first, or why there is none."""
        result = getattr(self, key)
        return result if isinstance(result, str) else [(u, norm) for u, norm, *_ in result.ranked]

    def thumbnails(self) -> dict[UnitRef, np.ndarray]:
        """Every cached thumbnail the card knows: the unit's and its inputs' and outputs'."""
        found = {} if self.thumbnail is None else {self.unit: self.thumbnail}
        for result in (self.inputs, self.outputs):
            if not isinstance(result, str):
                found.update(result.thumbnails)
        return found


def unit_card(ctx: Context, unit: UnitRef, src: str | None, dst: str | None, k: int, atlas: Any = None) -> UnitCard:
    """The card of ``unit``: its ``k`` top inputs from ``src`` and outputs to ``dst`` (None: "no layer")."""
    from circuitloupe.core import weights as W
    from circuitloupe.core.atlas import figures as AF

    model = ctx.model
    inputs = _result(ctx, ExpandedRequest(src, str(unit), top=k)) if src else "no layer"
    outputs = _result(ctx, OutputsRequest(str(unit), layer=dst, top=k)) if dst else "no layer"
    examples = summary = None
    if AF.covers(atlas, model, unit):
        try:
            examples = AF.top_crops(atlas, model, unit, 6)
            summary = AF.summary_line(atlas.unit(unit))
        except UserError as error:
            summary = str(error)
    if examples is None:  # no atlas of the unit: the examples of a scan of it, if there is one
        examples = _scanned_examples(model, unit)
    return UnitCard(unit, inputs, outputs, W.cached_thumbnails(model, [unit]).get(unit), examples, summary)


def _result(ctx: Context, request) -> Result | str:
    try:
        return run(ctx, request)
    except UserError as error:
        return str(error)


def _scanned_examples(model, unit: UnitRef) -> Examples | None:
    from circuitloupe.core.dataset import top_examples

    try:
        return top_examples(model, unit, 6)
    except (UserError, OSError, ValueError):
        return None
