"""Feature-visualisation thumbnails: for the figures of weight tasks, and the browser's grid."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from circuitloupe.core.units import UnitRef
from circuitloupe.tasks.base import Context

THUMB_SIZE, THUMB_STEPS, THUMB_BATCH = 64, 64, 8


def thumbnails(ctx: Context, units: Sequence[UnitRef], render: bool) -> dict[UnitRef, np.ndarray]:
    """The cached thumbnails of ``units``; with ``render``, missing ones are rendered (slow) and cached."""
    from circuitloupe.core.weights import cached_thumbnails, render_missing_thumbnails

    if render:
        return render_missing_thumbnails(ctx.model, units, progress=ctx.progress, should_stop=ctx.should_stop)
    return cached_thumbnails(ctx.model, units)


def thumbnail_batches(ctx: Context, units: Sequence[UnitRef], render: bool, memo: dict | None = None,
                      size: list[int] | None = None) -> dict[UnitRef, np.ndarray]:
    """Cached thumbnails of ``units`` at once (as a progress preview ``{"thumbnails": {unit: image}}``),
    then, when ``render``, the missing ones rendered in batches, each batch previewed as it lands.

    A paused background job starts again after the user's job. ``memo`` (one per job) keeps the
    thumbnails it rendered and how often it started; ``size`` holds the batch size shared between
    the jobs of one grid, halved at each restart (down to one unit) and doubled after each batch that
    lands, so renders still land between clicks that come faster than a whole batch."""
    from circuitloupe.core import weights as W
    from circuitloupe.core.jobs import check_stop

    memo = memo if memo is not None else {}
    size = size if size is not None else [THUMB_BATCH]
    found = {**W.cached_thumbnails(ctx.model, units), **memo.setdefault("rendered", {})}
    ctx.progress(0, 1, {"thumbnails": dict(found)})
    missing = [u for u in units if u not in found]
    if not render or not missing or not W.featurevis_available():
        return found
    if memo.get("starts"):
        size[0] = max(1, size[0] // 2)
    memo["starts"] = memo.get("starts", 0) + 1
    batches = [missing[i:i + size[0]] for i in range(0, len(missing), size[0])]
    total = len(batches) * THUMB_STEPS
    for b, batch in enumerate(batches):
        check_stop(ctx.should_stop)
        done = b * THUMB_STEPS
        new = W.render_missing_thumbnails(
            ctx.model, batch, size=THUMB_SIZE, steps=THUMB_STEPS, should_stop=ctx.should_stop,
            progress=lambda step, _total, _preview=None, done=done: ctx.progress(done + step, total, None))
        found.update(new)
        memo["rendered"].update(new)
        size[0] = min(THUMB_BATCH, size[0] * 2)
        ctx.progress(done + THUMB_STEPS, total, {"thumbnails": new})
    return found
