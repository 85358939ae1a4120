"""Feature-visualisation thumbnails for the figures of weight tasks."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from circuitloupe.core.units import UnitRef
from circuitloupe.tasks.base import Context


def thumbnails(ctx: Context, units: Sequence[UnitRef], render: bool) -> dict[UnitRef, np.ndarray]:
    """The cached thumbnails of ``units``; with ``render``, missing ones are rendered (slow) and cached."""
    from circuitloupe.core.weights import cached_thumbnails, render_missing_thumbnails

    if render:
        return render_missing_thumbnails(ctx.model, units, progress=ctx.progress, should_stop=ctx.should_stop)
    return cached_thumbnails(ctx.model, units)
