"""The labeling work the app runs on its inference thread, as plain ``fn(ctx, ...)`` functions.

``ctx`` is anything with the loaded ``model`` and ``progress``/``should_stop`` callbacks (the
service's job context); the CLI calls the same core functions directly.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from circuitloupe.core.dataset import ScanSettings, scan
from circuitloupe.core.labeling.labelsets import LabelSet
from circuitloupe.core.labeling.reference import render_reference
from circuitloupe.core.labeling.reveal import position_attribution
from circuitloupe.core.labeling.sampling import SamplingPlan
from circuitloupe.core.labeling.session import LabelSession, create_session, create_session_from_atlas
from circuitloupe.core.models.base import LoadedModel


class Context(Protocol):
    model: LoadedModel
    progress: Callable[..., None]
    should_stop: Callable[[], bool]


def new_session_job(ctx: Context, path: str, unit: str, folder: str, settings: ScanSettings, plan: SamplingPlan,
                    label_set: LabelSet) -> str:
    """Scan ``folder`` (reusing its cache) and sample a session into ``path``; returns the path."""
    result = scan(ctx.model, unit, folder, settings, progress=ctx.progress, should_stop=ctx.should_stop)
    weights = ctx.model.weights_spec if ctx.model.is_random else None
    create_session(path, ctx.model, unit, result.cache, plan, label_set, weights=weights).close()
    return path


def atlas_session_job(ctx: Context, path: str, unit: str, atlas: str, plan: SamplingPlan, label_set: LabelSet) -> str:
    """Sample a session into ``path`` from the atlas folder's sample of positions (no scan)."""
    from circuitloupe.core.atlas import Atlas

    weights = ctx.model.weights_spec if ctx.model.is_random else None
    create_session_from_atlas(path, ctx.model, unit, Atlas(atlas), plan, label_set, weights=weights).close()
    return path


def attribution_job(ctx: Context, session_file: str, relpath: str, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
    """(crop [h, w, 3], gradient x input over the crop [h, w]) for one item."""
    with LabelSession(session_file) as session:
        loader = session.crop_loader()
        pixels = loader.prepared(relpath)
        return loader(relpath, y, x), position_attribution(ctx.model, session.info, pixels, y, x)


def reference_job(ctx: Context, session_file: str) -> tuple[str, np.ndarray]:
    """(session file, the session unit's feature visualisation), rendered if none is cached."""
    with LabelSession(session_file) as session:
        info = session.info
    return session_file, render_reference(ctx.model, info, progress=ctx.progress, should_stop=ctx.should_stop)
