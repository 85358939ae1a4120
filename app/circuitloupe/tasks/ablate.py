"""ablate: zero or scale units and edges in a copy of the model, and measure what changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, option, positional, task

TOP_CLASSES = 15


@dataclass(frozen=True)
class AblateRequest(Request):
    """Edits (units ``mixed3b:379,385`` or edges ``conv3:5->conv4:12``) scaled by ``scale`` (0 =
    ablated), measured on the images of ``images`` and on the tuning of ``family``."""

    command = "ablate"

    edits: tuple[str, ...] = positional(many=True)
    images: str = option("--images", default="")
    scale: float = option("--scale", default=0.0)
    family: str = option("--family", default="")
    batch_size: int = option("--batch-size", default=16)

    def validate(self) -> None:
        object.__setattr__(self, "edits", tuple(expand_edits(self.edits)))
        if not self.images:
            raise UserError("give --images DIR: the folder whose images the logit changes are measured on")
        if not np.isfinite(self.scale) or abs(self.scale) > 1e3:
            raise UserError(f"--scale {self.scale} is out of range; use a factor such as 0 (ablate) or 0.5")
        if not 1 <= self.batch_size <= 1024:
            raise UserError("--batch-size must be 1 to 1024")


def expand_edits(texts: tuple[str, ...]) -> list[str]:
    """``("mixed3b:379,385", "a:1->b:2")`` -> ``["mixed3b:379", "mixed3b:385", "a:1->b:2"]``: a bare
    number after a comma takes the layer of the unit before it."""
    edits: list[str] = []
    for text in texts:
        layer = None
        for token in filter(None, (t.strip() for t in text.split(","))):
            if "->" in token or ":" in token:
                edits.append(token)
                layer = token.split("->")[-1].rpartition(":")[0]
            elif token.isdigit() and layer:
                edits.append(f"{layer}:{token}")
            else:
                raise UserError(f"'{token}' is not a unit or an edge; write LAYER:i[,j...] or LAYER:i->LAYER2:j")
    if not edits:
        raise UserError("no edits given; name units (mixed3b:379) or edges (conv3:5->conv4:12)")
    return edits


@dataclass
class AblateResult(Result):
    report: Any  # core.ablation.AblationReport
    class_labels: list[str] | None

    def top_changes(self, count: int = TOP_CLASSES) -> list[dict[str, Any]]:
        mean = np.asarray(self.report.logit_change_mean)
        order = np.argsort(-np.abs(mean))[:count]
        return [{"class": int(k), "label": self._label(int(k)), "mean": float(mean[k]),
                 "max": float(self.report.logit_change_max[k])} for k in order]

    def _label(self, index: int) -> str:
        return f"{index} {self.class_labels[index]}" if self.class_labels and index < len(self.class_labels) \
            else str(index)

    def lines(self) -> list[str]:
        report = self.report
        accuracy = (f"; top-1 {report.accuracy['original']:.1%} -> {report.accuracy['ablated']:.1%} on "
                    f"{report.labelled} labelled images" if report.accuracy else "")
        return [f"{', '.join(report.edits)} x {self.request.scale:g} over {len(report.files)} images{accuracy}",  # type: ignore[attr-defined]
                *(f"  {row['label']}: mean {row['mean']:+.4g}, largest {row['max']:+.4g}" for row in self.top_changes(5))]

    def data(self) -> dict[str, Any]:
        report = self.report
        return {"edits": report.edits, "images": len(report.files), "labelled": report.labelled,
                "accuracy": report.accuracy, "logit_change_mean": report.logit_change_mean,
                "logit_change_max": report.logit_change_max, "top_changes": self.top_changes(),
                "family": report.family}

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.figures import new_plot, plot_to_image

        top = self.top_changes()[::-1]
        fig, ax = new_plot(7.0, 0.28 * len(top) + 1.4, scale)
        values = [row["mean"] for row in top]
        ax.barh(range(len(top)), values, color=["#c0392b" if v < 0 else "#2471a3" for v in values])
        ax.set_yticks(range(len(top)), [row["label"] for row in top], fontsize=7)
        ax.axvline(0, color="0.3", linewidth=0.6)
        ax.set_xlabel("mean logit change over images (edited minus original)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        title = f"{', '.join(self.report.edits)} x {self.request.scale:g}: {len(self.report.files)} images"
        if self.report.accuracy:
            acc = self.report.accuracy
            title += f"; top-1 {acc['original']:.1%} -> {acc['ablated']:.1%}"
        ax.set_title(title, fontsize=8)
        fig.tight_layout()
        return plot_to_image(fig)


@task(AblateRequest)
def ablate(ctx: Context, request: AblateRequest) -> AblateResult:
    from circuitloupe.core.ablation import ablation_report, parse_edits

    model = ctx.model
    edits = parse_edits(model, request.edits, request.scale)
    family = []
    if request.family:
        family = model.families.get(request.family)
        if family is None:
            known = ", ".join(model.families) or "none"
            raise UserError(f"{model.name} has no family '{request.family}' (known: {known})")
    report = ablation_report(model, edits, request.images, request.batch_size, family,
                             progress=ctx.progress, should_stop=ctx.should_stop)
    return AblateResult(request, model.spec, model.weights_id, report, model.class_labels)
