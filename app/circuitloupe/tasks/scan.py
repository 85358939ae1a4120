"""scan: run an image folder through the model into the activation cache, and report a unit
(statistics, top and bottom examples) or a whole layer (per-channel statistics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task

RESIZE = ("squash", "crop")
DEFAULT_TOP = 9


@dataclass(frozen=True)
class ScanRequest(Request):
    """Scan ``folder`` (recursively) for ``target``, a unit or a layer; a second scan reuses the
    cache. ``view`` picks the unit figure, ``top`` the examples reported per end; ``attributions``
    puts each example's gradient x input beside its crop (the Curve Detectors figure of examples
    ordered by activation, each with its attribution)."""

    command = "scan"

    target: str = positional()
    folder: str = positional()
    view: str = option("--view", default="summary")
    top: int = option("--top", default=DEFAULT_TOP)
    size: int | None = option("--size", default=None)
    resize: str = option("--resize", default="squash")
    batch_size: int = option("--batch-size", default=16)
    workers: int = option("--workers", default=2)
    whole_layer: bool = flag("--whole-layer")
    rescan: bool = flag("--rescan")
    attributions: bool = flag("--attributions")

    def validate(self) -> None:
        from circuitloupe.core.dataset.figures import VIEWS

        if self.view not in VIEWS:
            raise UserError(f"unknown view '{self.view}'; use one of {', '.join(VIEWS)}")
        if self.resize not in RESIZE:
            raise UserError(f"unknown resize '{self.resize}'; use squash or crop")
        if self.top < 1 or self.batch_size < 1 or self.workers < 0:
            raise UserError("--top and --batch-size must be at least 1, --workers at least 0")
        if self.size is not None and not 16 <= self.size <= 4096:
            raise UserError(f"--size {self.size} is out of range; use 16 to 4096 pixels")

    def settings(self):
        from circuitloupe.core.dataset import ScanSettings

        return ScanSettings(size=(self.size, self.size) if self.size else None, resize=self.resize,
                            batch_size=self.batch_size, workers=self.workers)


@dataclass
class ScanTaskResult(Result):
    """``scan``: what the scan did (and its cache); ``report``: the unit's dataset views, or None
    for a layer target; ``target``: the scanned layer (and unit)."""

    scan: Any
    target: Any
    report: Any = None

    @property
    def layer(self) -> str:
        return self.target.layer

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.dataset.figures import report_figure

        if self.report is None:
            raise UserError("a layer scan has no figure; scan a unit (layer:channel) for one")
        return report_figure(self.report, self.request.view, scale)  # type: ignore[attr-defined]

    def lines(self) -> list[str]:
        s = self.scan
        rate = f" ({s.images_per_second:.1f} images/s)" if s.scanned else ""
        lines = [f"{s.scanned} images scanned{rate}, {s.reused} from the cache, {len(s.bad)} skipped, "
                 f"{len(s.ignored)} other files ignored"]
        lines += [f"  skipped {relpath}: {error}" for relpath, error in s.bad]
        if self.report is not None:
            stats = self.report.stats
            fit = f", exponential tail rate {self.report.fit.rate:.4g}" if self.report.fit else ""
            lines.append(f"{self.target.unit}: mean {stats.get('mean', 0):.4g}, firing "
                         f"{stats.get('fraction_firing', 0):.1%} of {stats.get('count', 0)} positions{fit}")
        return lines

    def data(self) -> dict[str, Any]:
        s = self.scan
        scanned = {"scanned": s.scanned, "reused": s.reused, "seconds": s.seconds, "cache": str(s.cache.folder),
                   "skipped": [{"file": f, "error": e} for f, e in s.bad], "ignored": s.ignored}
        if self.report is not None:
            return {**self.report.to_json(), **scanned}
        return {"layer": self.layer, **scanned, "channels": _layer_stats(s.cache)}


def _layer_stats(cache) -> list[dict[str, Any]]:
    from circuitloupe.core.dataset import describe

    rows = []
    for channel in cache.channels:
        values = cache.values(channel, "pre")
        stats = describe(values)
        rows.append({"channel": channel, **{k: stats[k] for k in ("mean", "std", "max", "fraction_firing")
                                            if k in stats},
                     "max_per_image_mean": float(np.max(values, axis=(1, 2)).mean()) if values.size else 0.0})
    return rows


@task(ScanRequest)
def scan(ctx: Context, request: ScanRequest) -> ScanTaskResult:
    from circuitloupe.core.dataset import drop_cache, open_dataset, resolve_target, scan as scan_folder

    model = ctx.model
    settings = request.settings()
    target = resolve_target(model, request.target, whole_layer=request.whole_layer)
    if request.top != DEFAULT_TOP and target.unit is None:
        raise UserError("--top needs a unit (layer:channel), not a whole layer")
    if request.attributions and target.unit is None:
        raise UserError("--attributions needs a unit (layer:channel), not a whole layer")
    if request.rescan:
        old = open_dataset(model, target, request.folder, settings)
        if old is not None:
            drop_cache(old)
    result = scan_folder(model, target, request.folder, settings, progress=ctx.progress, should_stop=ctx.should_stop)
    return _result(ctx, request, result)


def open_scan(ctx: Context, request: ScanRequest) -> ScanTaskResult | None:
    """The Result ``request`` gives from the folder's existing cache, without scanning or walking
    the folder (so no files are listed as ignored), or None when there is no cache for its target."""
    from circuitloupe.core.dataset import open_dataset, resolve_target
    from circuitloupe.core.dataset.scan import ScanResult

    target = resolve_target(ctx.model, request.target, whole_layer=request.whole_layer)
    cache = open_dataset(ctx.model, target, request.folder, request.settings())
    if cache is None:
        return None
    return _result(ctx, request, ScanResult(cache, target, 0, len(cache), cache.bad(), [], 0, 0.0))


def _result(ctx: Context, request: ScanRequest, result) -> ScanTaskResult:
    """The unit's report (with attributions when asked) over a scan's cache."""
    from circuitloupe.core.dataset import unit_report
    from circuitloupe.core.dataset.report import add_attributions

    model, target, report = ctx.model, result.target, None
    if target.unit is not None:
        report = unit_report(model, result.cache, target.unit.channel, k=request.top, should_stop=ctx.should_stop)
        if request.attributions:
            add_attributions(model, report, result.cache, ctx.should_stop)
    return ScanTaskResult(request, model.spec, model.weights_id, result, target, report)
