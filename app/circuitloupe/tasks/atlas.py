"""atlas build / query / export: every unit of chosen layers summarised over an image set."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task

RESIZE_MODES = ("squash", "crop")


@dataclass(frozen=True)
class AtlasBuildRequest(Request):
    """Summarise every unit of ``layers`` over the images of a folder or list file into ``out``."""

    command = "atlas build"

    images: str = option("--images")
    out: str = option("--out")
    layers: tuple[str, ...] = option("--layers", many=True, default=("all",))
    top: int = option("--top", default=16)
    bins: int = option("--bins", default=100)
    reservoir: int = option("--reservoir", default=512)
    seed: int = option("--seed", default=0)
    batch_size: int = option("--batch-size", default=32)
    workers: int = option("--workers", default=2)
    size: int | None = option("--size", default=None)
    resize: str = option("--resize", default="squash")
    checkpoint_every: int = option("--checkpoint-every", default=1000)
    featvis: bool = flag("--featvis")
    featvis_size: int = option("--featvis-size", default=128)
    featvis_steps: int = option("--featvis-steps", default=256)

    def validate(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise UserError("--layers needs at least one layer, or all")
        if not 1 <= self.top <= 1000:
            raise UserError(f"--top {self.top} is out of range; use 1 to 1000 examples")
        if not 1 <= self.bins <= 10_000:
            raise UserError(f"--bins {self.bins} is out of range; use 1 to 10000")
        if not 0 <= self.reservoir <= 1_000_000:
            raise UserError(f"--reservoir {self.reservoir} is out of range; use 0 to 1000000 positions")
        if self.batch_size < 1 or self.workers < 0 or self.checkpoint_every < 1:
            raise UserError("--batch-size and --checkpoint-every must be at least 1, --workers at least 0")
        if self.size is not None and not 16 <= self.size <= 4096:
            raise UserError(f"--size {self.size} is out of range; use 16 to 4096 pixels")
        if self.resize not in RESIZE_MODES:
            raise UserError(f"--resize must be squash or crop, not '{self.resize}'")
        if not 16 <= self.featvis_size <= 2048 or not 0 <= self.featvis_steps <= 100_000:
            raise UserError("--featvis-size must be 16 to 2048 pixels and --featvis-steps 0 to 100000")

    def settings(self):
        from circuitloupe.core.atlas import BuildSettings

        return BuildSettings(layers=self.layers, top=self.top, bins=self.bins, reservoir=self.reservoir,
                             seed=self.seed, batch_size=self.batch_size, size=self.size, resize=self.resize,
                             workers=self.workers, checkpoint_every=self.checkpoint_every, featvis=self.featvis,
                             featvis_size=self.featvis_size, featvis_steps=self.featvis_steps)


@dataclass
class AtlasBuildResult(Result):
    """The build's report; ``rank``/``world``: this process's place under torchrun."""

    report: Any
    rank: int
    world: int

    def atlas(self):
        from circuitloupe.core.atlas import Atlas

        return Atlas(self.report.folder)

    def figure(self, scale: float = 1.0):
        """Each layer's firing fractions, units sorted from most to least often firing."""
        import numpy as np

        from circuitloupe.core import figures

        atlas = self.atlas()
        fig, ax = figures.new_plot(6.0, 3.2, scale)
        for name in atlas.layers:
            arrays = atlas.arrays(name)
            firing = np.sort(arrays["positives"] / max(1, int(arrays["count"][0])))[::-1]
            ax.plot(np.linspace(0, 1, firing.size), firing, label=name)
        ax.set_xlabel("units of the layer (sorted)")
        ax.set_ylabel("fraction firing")
        ax.set_title(f"atlas of {atlas.images} images", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        return figures.plot_to_image(fig)

    def data(self) -> dict[str, Any]:
        r = self.report
        return {"atlas": str(r.folder), "images": r.images, "processed": r.processed, "resumed": r.resumed,
                "seconds": round(r.seconds, 3), "processes": self.world,
                "skipped": [{"file": f, "error": e} for f, e in r.skipped]}


@task(AtlasBuildRequest)
def atlas_build(ctx: Context, request: AtlasBuildRequest) -> AtlasBuildResult:
    from circuitloupe.core.atlas import build_atlas
    from circuitloupe.core.atlas.distributed import process_group

    model = ctx.model
    weights = model.weights_id if model.weights_id.startswith("random:") else None
    with process_group(model.device) as group:
        report = build_atlas(model, request.images, request.out, request.settings(), weights=weights, group=group,
                             progress=ctx.progress if group.is_main else None, should_stop=ctx.should_stop)
    return AtlasBuildResult(request, model.spec, model.weights_id, report, group.rank, group.world)


@dataclass(frozen=True)
class AtlasQueryRequest(Request):
    """One unit of an atlas: statistics, top/bottom examples, histogram."""

    command = "atlas query"

    atlas: str = positional()
    unit: str = positional()


@dataclass
class AtlasQueryResult(Result):
    """``summary``: the unit's :class:`~circuitloupe.core.atlas.UnitSummary`; ``crops`` draws its
    examples (None when no model was given: the figure then shows the histogram only);
    ``featvis``: its feature-visualisation PNGs by objective, when the atlas has them."""

    summary: Any
    crops: Any
    featvis: dict[str, str]

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.atlas.figures import unit_figure

        return unit_figure(self.summary, self.crops, scale)

    def data(self) -> dict[str, Any]:
        return {"atlas": self.request.atlas, **self.summary.to_json(), "featvis": self.featvis}


@task(AtlasQueryRequest)
def atlas_query(ctx: Context, request: AtlasQueryRequest) -> AtlasQueryResult:
    from circuitloupe.core.atlas import Atlas
    from circuitloupe.core.atlas.figures import AtlasCrops

    atlas = Atlas(request.atlas)
    crops = AtlasCrops(atlas, ctx.model) if ctx.model is not None else None
    summary = atlas.unit(request.unit)
    featvis = {o: str(path) for o in ("channel", "neuron") if (path := atlas.featvis(summary.unit, o)) is not None}
    return AtlasQueryResult(request, atlas.meta["model"], atlas.meta["weights_id"], summary, crops, featvis)


@dataclass(frozen=True)
class AtlasExportRequest(Request):
    """The atlas as a static website in folder ``html`` (opens from file://)."""

    command = "atlas export"

    atlas: str = positional()
    html: str = option("--html")


@dataclass
class AtlasExportResult(Result):
    index: Path
    pages: int
    seconds: float

    def data(self) -> dict[str, Any]:
        return {"index": str(self.index), "pages": self.pages, "seconds": round(self.seconds, 3)}


@task(AtlasExportRequest)
def atlas_export(ctx: Context, request: AtlasExportRequest) -> AtlasExportResult:
    from circuitloupe.core.atlas import Atlas
    from circuitloupe.core.atlas.html import export_html

    atlas = Atlas(request.atlas)
    started = time.perf_counter()
    index = export_html(atlas, ctx.model, request.html, ctx.progress, ctx.should_stop)
    pages = 1 + len(atlas.layers) + sum(s.channels for s in atlas.layers.values())
    return AtlasExportResult(request, atlas.meta["model"], atlas.meta["weights_id"], index, pages,
                             time.perf_counter() - started)
