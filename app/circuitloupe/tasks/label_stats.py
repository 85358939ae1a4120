"""label stats: a labeling session's label proportions per activation bin, expected-value shares
and agreement between labellers. Runs on the session file alone (no model)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from circuitloupe.core.errors import UserError
from circuitloupe.core.labeling import DEFAULT_LABELLER
from circuitloupe.tasks.base import Context, Request, Result, option, positional, task


@dataclass(frozen=True)
class LabelStatsRequest(Request):
    """``session``: a session name (kept in the data folder) or a ``.labels`` path;
    ``labeller``: whose answers; ``view``: the figure drawn."""

    command = "label stats"
    needs_model = False

    session: str = positional()
    labeller: str = option("--labeller", default=DEFAULT_LABELLER)
    view: str = option("--view", default="results")

    def validate(self) -> None:
        from circuitloupe.core.labeling.figures import VIEWS

        if self.view not in VIEWS:
            raise UserError(f"unknown view '{self.view}'; use one of {', '.join(VIEWS)}")
        if not self.labeller.strip():
            raise UserError("--labeller needs a name")


@dataclass
class LabelStatsResult(Result):
    """``results``: counts per bin and label with expected-value shares; ``agreement``: one dict
    per pair of labellers (items, percent, kappa)."""

    path: str
    info: Any
    label_set: Any
    results: Any
    counts: tuple[int, int, int]  # labelled, skipped, total
    labellers: list[str]
    agreement: list[dict]
    headline: str | None
    support: Any  # core.labeling.stats.BinSupport: whether the bins carry per-label shares

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.labeling.figures import view_figure

        return view_figure(self.results, self.label_set, self.request.view, scale)  # type: ignore[attr-defined]

    def lines(self) -> list[str]:
        from circuitloupe.core.labeling.stats import UNLABELLED

        labeller = self.request.labeller  # type: ignore[attr-defined]
        labelled, skipped, total = self.counts
        lines = [f"{labeller}: {labelled} labelled, {skipped} skipped of {total}"]
        totals = self.results.counts.sum(axis=0)
        supported = self.support.supported  # shares only where the bins carry them
        for k, name in enumerate(self.results.names):
            share = f", {self.results.shares[name]:.1%} of the expected value" if supported else ""
            lines.append(f"  {name}: {totals[k]} items{share}")
        if supported and self.results.shares[UNLABELLED] > 0:
            lines.append(f"  bins with no labels yet: {self.results.shares[UNLABELLED]:.1%} of the expected value")
        if self.headline:
            lines.append(f"  {self.headline}")
        for pair in self.agreement:
            kappa = "n/a" if pair["kappa"] is None else f"{pair['kappa']:.3f}"
            lines.append(f"  agreement {pair['labellers'][0]} / {pair['labellers'][1]}: {pair['items']} items, "
                         f"{pair['percent'] or 0:.1f}%, kappa {kappa}")
        return lines

    def data(self) -> dict[str, Any]:
        info = self.info
        labelled, skipped, total = self.counts
        return {"session": self.path, "unit": info.unit, "model": info.model, "weights_id": info.weights_id,
                "dataset": info.dataset, "labeller": self.request.labeller,  # type: ignore[attr-defined]
                "labelled": labelled, "skipped": skipped, "items": total, "labellers": self.labellers,
                "headline": self.headline, "supported": self.support.supported,
                "warnings": list(self.support.warnings), **self.results.to_json(), "agreement": self.agreement}


@task(LabelStatsRequest)
def label_stats(ctx: Context, request: LabelStatsRequest) -> LabelStatsResult:
    from circuitloupe.core.labeling import LabelSession, session_path
    from circuitloupe.core.labeling.figures import positive_summary, support

    with LabelSession(session_path(request.session)) as session:
        results = session.results(request.labeller)
        labellers = session.labellers()
        pairs = [session.agreement(a, b) for a, b in itertools.combinations(labellers, 2)]
        info = session.info
        return LabelStatsResult(request, info.model, info.weights_id, str(session.path), info, session.label_set,
                                results, session.progress(request.labeller), labellers, pairs,
                                positive_summary(results, session.label_set), support(results))
