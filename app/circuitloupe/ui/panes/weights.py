"""Weights pane: first-layer RGB filters, expanded weights into the current unit, circuit grids,
the current unit's circuit traced over several layers, and for p4 group CNNs each filter's four
rotated copies side by side.

Each tab (:mod:`weights_tabs`, :mod:`trace_tab`) builds the Request of ``circuitloupe weights /
expanded / circuit``, the pane runs it on the inference service and the tab shows its Result, the
very figure the command writes; hovering a heatmap cell shows its number, clicking a unit's
thumbnail makes it the current unit. Feature-visualisation thumbnails are rendered afterwards, in
the background, and fill in the stand-ins.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout

from circuitloupe import tasks
from circuitloupe.core import weights as W
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef
from circuitloupe.service import Job
from circuitloupe.tasks.expanded import METHODS
from circuitloupe.tasks.thumbnails import thumbnails
from circuitloupe.ui.panes.trace_tab import TraceTab
from circuitloupe.ui.panes.weights_tabs import CircuitTab, ExpandedTab, FiltersTab, RotatedTab, WeightsTab
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.result_export import ResultExport
from circuitloupe.ui.widgets.progress import JobProgress

TABS = ("first", "expanded", "circuit", "rotated", "trace")


@dock_pane("weights")
class WeightsPane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self._jobs: dict[str, Job] = {}
        self._dirty = dict.fromkeys(TABS, True)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.first, self.expanded, self.circuit = FiltersTab(self), ExpandedTab(self), CircuitTab(self)
        self.rotated, self.trace = RotatedTab(self), TraceTab(self)
        self.pages: dict[str, WeightsTab] = {tab.key: tab for tab in (
            self.first, self.expanded, self.circuit, self.rotated, self.trace)}
        self.tabs = QTabWidget()
        for key in TABS:
            self.tabs.addTab(self.pages[key], self.pages[key].label)
        self.tabs.setTabVisible(TABS.index("rotated"), False)
        self.tabs.currentChanged.connect(lambda _: self._refresh_current())
        self.progress = JobProgress("steps")
        self.render_thumbs = QCheckBox("Feature vis")
        self.render_thumbs.setChecked(True)
        self.render_thumbs.setToolTip("Render missing feature-visualisation thumbnails of the units shown, in the "
                                      "background (cached ones always show)")
        self.render_thumbs.toggled.connect(self._on_render_toggled)
        bottom = QHBoxLayout()
        bottom.addWidget(self.info, 1)
        bottom.addWidget(self.render_thumbs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.progress)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(self._refresh_current)
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        if state.model is not None:
            self._on_model(state.model)

    @property
    def page(self) -> WeightsTab:
        return self.pages[TABS[self.tabs.currentIndex()]]

    @property
    def result(self) -> tasks.Result | None:
        """The Result the visible tab shows (with its view options: scale, magnitude, input channel)."""
        return self.page.shown()

    # ----------------------------------------------------------------- state
    def _on_model(self, model) -> None:
        for page in self.pages.values():
            page.show_result(None)  # nothing of the previous model stays on screen; each tab recomputes
            page.on_model(model)
        self._show_group_tabs(bool(W.group_layers(model)))
        self._mark_all()
        if self.state.unit is not None:
            self._on_unit(self.state.unit)

    def _show_group_tabs(self, group: bool) -> None:
        """Group models show the rotated-copies tab instead of the RGB first-layer tab."""
        first, rotated = TABS.index("first"), TABS.index("rotated")
        filters_tab = self.tabs.currentIndex() in (first, rotated)
        self.tabs.setTabVisible(rotated, group)
        self.tabs.setTabVisible(first, not group)
        if filters_tab:
            self.tabs.setCurrentIndex(rotated if group else first)

    def _on_unit(self, unit: UnitRef) -> None:
        if self.state.model is None:
            return
        for page in self.pages.values():
            page.on_unit(unit)

    def mark(self, tab: str) -> None:
        """``tab``'s inputs changed: compute it again once the controls settle (hidden tabs when shown)."""
        self._dirty[tab] = True
        self._debounce.start()

    def _mark_all(self) -> None:
        for tab in self._dirty:
            self.mark(tab)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._debounce.start()

    def _refresh_current(self) -> None:
        """Recompute the visible tab if its inputs changed (hidden tabs wait until shown)."""
        if self.state.model is None or not self.isVisible():
            return
        key = TABS[self.tabs.currentIndex()]
        if self._dirty[key]:
            self._dirty[key] = False
            self.compute(key)

    def compute(self, key: str) -> Job | None:
        """Run the request ``key``'s tab describes (its previous job is cancelled)."""
        page = self.pages[key]
        try:
            request = page.request()
        except UserError as error:
            self.state.message(str(error))
            return None
        if request is None:
            return None
        return self._submit(key, tasks.run, request, on_done=partial(self._on_result, key),
                            on_failed=partial(self._on_failed, key), name=f"{request.command} ({page.label})")

    def _on_result(self, key: str, result: tasks.Result) -> None:
        page = self.pages[key]
        page.show_result(result)
        self._render_thumbnails(page.units())

    def _on_failed(self, key: str, message: str) -> None:
        self.pages[key].show_result(None)
        self.pages[key].view.set_image(None, message)

    def _submit(self, key: str, fn, *args, on_done, on_failed=None, priority: str = "user",
                name: str = "") -> Job:
        """Run ``fn`` as the pane's ``key`` job, cancelling the previous one of that key."""
        old = self._jobs.get(key)
        if old is not None and not old.done:
            old.cancel()

        def connect(job: Job) -> None:
            # Only the latest job of a key shows its answer (a cancelled one may finish first).
            job.sigFinished.connect(lambda value: self._jobs.get(key) is job and on_done(value))
            if on_failed is not None:
                job.sigFailed.connect(lambda message: self._jobs.get(key) is job and on_failed(message))
            self.progress.follow(job)

        job = self.run_job(fn, *args, connect=connect, name=name or key, priority=priority)
        self._jobs[key] = job
        return job

    # ----------------------------------------------------------------- thumbnails
    def _render_thumbnails(self, units: list[UnitRef]) -> None:
        shown = {u for page in self.pages.values() if page.result is not None
                 for u in getattr(page.result, "thumbnails", {})}
        missing = [u for u in dict.fromkeys(units) if u not in shown]
        if missing and self.render_thumbs.isChecked() and W.featurevis_available():
            self._submit("thumbnails", thumbnails, missing, True, on_done=self._on_thumbnails,
                         priority="background", name=f"feature vis thumbnails ({len(missing)})")

    def _on_render_toggled(self, on: bool) -> None:
        if on:
            self._render_thumbnails([u for page in self.pages.values() for u in page.units()])
        else:
            self.cancel_jobs("thumbnails")

    def cancel_jobs(self, *keys: str) -> None:
        """Cancel the pane's running jobs (those of ``keys``, or all)."""
        for key, job in self._jobs.items():
            if (not keys or key in keys) and not job.done:
                job.cancel()

    def _on_thumbnails(self, found: dict[UnitRef, np.ndarray]) -> None:
        for page in self.pages.values():
            wanted = set(page.units())
            if wanted & set(found):
                page.result.thumbnails.update({u: found[u] for u in wanted & set(found)})
                page.redraw()

    # ----------------------------------------------------------------- export
    def project_state(self) -> dict[str, Any]:
        return {"tab": self.tabs.currentIndex(), "shared_scale": self.first.shared_scale.isChecked(),
                "render_thumbnails": self.render_thumbs.isChecked(),
                "top_k": self.expanded.top_k.value(), "method": self.expanded.method.currentText(),
                "src_family": self.circuit.src_family.currentText(),
                "dst_family": self.circuit.dst_family.currentText(),
                "magnitude": self.circuit.magnitude.isChecked(), "rotated_layer": self.rotated.layer.currentData(),
                "trace_back": self.trace.back.value(), "trace_top": self.trace.top.value()}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        if isinstance(data.get("tab"), int) and 0 <= data["tab"] < self.tabs.count() \
                and self.tabs.isTabVisible(data["tab"]):
            self.tabs.setCurrentIndex(data["tab"])
        layer = data.get("rotated_layer")
        if isinstance(layer, str) and self.rotated.layer.findData(layer) >= 0:
            self.rotated.layer.setCurrentIndex(self.rotated.layer.findData(layer))
        self.first.shared_scale.setChecked(bool(data.get("shared_scale", False)))
        self.circuit.magnitude.setChecked(bool(data.get("magnitude", False)))
        self.render_thumbs.setChecked(bool(data.get("render_thumbnails", True)))
        for key, box in (("top_k", self.expanded.top_k), ("trace_back", self.trace.back),
                         ("trace_top", self.trace.top)):
            if isinstance(data.get(key), int):
                box.setValue(data[key])
        if data.get("method") in METHODS:
            self.expanded.method.setCurrentText(data["method"])
        for key, combo in (("src_family", self.circuit.src_family), ("dst_family", self.circuit.dst_family)):
            if isinstance(data.get(key), str) and data[key]:
                combo.setEditText(data[key])
        self._mark_all()
