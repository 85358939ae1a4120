"""Dataset pane: scan an image folder for the current unit and look at its distribution.

Pick a folder and press Scan (or reopen a cached scan: it is instant); the pane shows the
pre-ReLU histogram (linear or log y) with the exponential fit of the positive tail and the
firing fraction, x·p(x), the top and bottom examples as receptive-field crops, the
activation quilt (each example beside its attribution when asked), and the files that could
not be read. When the app's open atlas covers the unit, the pane shows the atlas's summary
instead, with no scan; Scan still scans the folder. The pane runs ``scan`` (or ``atlas
query``) Requests; Export writes the Result's figure and Copy as CLI command reproduces it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPushButton, QTabWidget, QVBoxLayout, QWidget)

from circuitloupe import tasks
from circuitloupe.core.ablation import is_edited
from circuitloupe.core.atlas import figures as atlas_figures
from circuitloupe.core.dataset import expected_value_density, histogram
from circuitloupe.core.dataset.figures import FIRING_COLOUR, NEGATIVE_COLOUR, report_figure
from circuitloupe.core.errors import UserError
from circuitloupe.tasks.atlas import AtlasQueryRequest
from circuitloupe.tasks.scan import ScanRequest, open_scan
from circuitloupe.ui.widgets.controls import input_size_box, spin_box
from circuitloupe.ui.widgets.flow_layout import FlowLayout, labelled
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.legend import add_legend
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.progress import JobProgress

BINS = 100
TABS = ("Distribution", "x·p(x)", "Examples", "Quilt", "Skipped")


@dock_pane("dataset")
class DatasetPane(Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of images (searched recursively)")
        self.folder.setToolTip("Image folder to scan: JPEG, PNG, WebP, BMP and TIFF files in it and its subfolders")
        self.folder.editingFinished.connect(self._reopen)
        browse = QPushButton("Browse…")
        browse.setToolTip("Pick the image folder")
        browse.clicked.connect(self._browse)
        self.size = input_size_box("Input size the images are resized to (\"model\": the model's own input size)")
        self.size.valueChanged.connect(lambda _: self._reopen())
        self.workers = spin_box(
            0, 32, 2, "DataLoader processes decoding images in parallel (0: decode on the worker thread)")
        self.whole_layer = QCheckBox("whole layer")
        self.whole_layer.setToolTip("Cache every unit of the layer (more disk, then any unit of it opens instantly)")
        self.k = spin_box(1, 64, 9, "How many top and bottom examples to show")
        self.k.setPrefix("top ")
        self.scan_button = QPushButton("Scan")
        self.scan_button.setToolTip("Run the folder through the model for the current unit; only files not yet "
                                    "in the cache are run")
        self.scan_button.clicked.connect(self.start_scan)
        self.progress = JobProgress("img")
        self.status = QLabel("Pick a folder and press Scan.")
        self.status.setWordWrap(True)

        self.log_y = QCheckBox("log y")
        self.log_y.setToolTip("Logarithmic density axis: an exponential tail is a straight line")
        self.log_y.toggled.connect(lambda _: self._plot_histogram())
        self.log_y.toggled.connect(lambda _: self._follow_view())
        self.hist_plot = pg.PlotWidget()
        self.hist_plot.setLabel("bottom", "pre-ReLU activation")
        self.hist_plot.setLabel("left", "probability density")
        add_legend(self.hist_plot, (-10, 10))
        self.hist_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.stats_label = QLabel("")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.xpx_plot = pg.PlotWidget()
        self.xpx_plot.setLabel("bottom", "activation x")
        self.xpx_plot.setLabel("left", "x · p(x)")
        self.xpx_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.examples = FigureView("Top and bottom examples appear after a scan.")
        self.quilt = FigureView("Examples arranged by activation range appear after a scan.")
        self.skipped = QListWidget()
        self.skipped.setToolTip("Files that could not be decoded; hover for the reason")

        self.tabs = QTabWidget()
        distribution = QWidget()
        dist_layout = QVBoxLayout(distribution)
        dist_layout.setContentsMargins(0, 0, 0, 0)
        dist_layout.addWidget(self.hist_plot, 1)
        dist_layout.addWidget(self.stats_label)
        for widget, name in zip((distribution, self.xpx_plot, self.examples, self.quilt, self.skipped), TABS):
            self.tabs.addTab(widget, name)
        self.tabs.currentChanged.connect(lambda index: self.log_y.setVisible(index == 0))
        self.tabs.currentChanged.connect(lambda _: self._follow_view())

        controls = QHBoxLayout()  # the folder and Scan on one line, the options wrap below
        controls.addWidget(QLabel("Folder"))
        controls.addWidget(self.folder, 1)
        controls.addWidget(browse)
        controls.addWidget(self.scan_button)
        options = FlowLayout()
        self.attributions = QCheckBox("attributions")
        self.attributions.setToolTip("Show each example of the quilt and the examples beside its attribution "
                                     "(gradient × input over its receptive field; red pushes the unit up)")
        self.attributions.toggled.connect(lambda _: self._reopen())
        for label, widget in (("", self.size), ("workers", self.workers), ("", self.whole_layer), ("", self.k),
                              ("", self.attributions)):
            options.addWidget(labelled(label, widget) if label else widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addLayout(options)
        layout.addWidget(self.progress)
        status_row = QHBoxLayout()  # log y above the tabs: a short dock keeps it in sight
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.log_y)
        layout.addLayout(status_row)
        layout.addWidget(self.tabs, 1)

        self.result: tasks.Result | None = None  # a scan's or the atlas's Result for the current unit
        self.report = None  # the scan's UnitReport (None when the atlas is shown)
        self.last_scan = None  # the ScanResult of the last Scan pressed
        self._generation = 0  # answers of jobs started before the last change are dropped
        state.sigUnitChanged.connect(lambda _: self._reopen())
        state.sigModelChanged.connect(lambda _: self._reopen())
        state.sigAtlasChanged.connect(lambda _: self._reopen())

    # ------------------------------------------------------------------ actions
    def request(self) -> ScanRequest:
        """The scan the controls describe (raises UserError when they describe none)."""
        unit, folder = self.state.unit, self.folder.text().strip()
        if self.state.model is None or unit is None:
            raise UserError("Load a model and pick a unit before scanning")
        if not folder or not Path(folder).is_dir():
            raise UserError(f"'{folder}' is not a folder; pick the folder of images to scan")
        return ScanRequest(str(unit), folder, view=self.view(), top=self.k.value(), size=self.size.value() or None,
                           workers=self.workers.value(), whole_layer=self.whole_layer.isChecked(),
                           attributions=self.attributions.isChecked())

    def set_folder(self, folder: str | Path) -> None:
        """Point the pane at ``folder`` and show its cached scan for the current unit, if any."""
        self.folder.setText(str(folder))
        self._reopen()

    def start_scan(self) -> None:
        try:
            request = self.request()
        except UserError as error:
            self.state.message(str(error))
            return
        self.scan_button.setEnabled(False)
        self.status.setText(f"Scanning {request.folder} for {request.target}…")
        self._generation += 1
        generation = self._generation

        def connect(job):
            self.progress.follow(job)
            job.sigFinished.connect(lambda result: self._on_scanned(result, generation))
            for signal in (job.sigFailed, job.sigCancelled):
                signal.connect(lambda *_: self._scan_ended())
            job.sigCancelled.connect(lambda: self.status.setText("Scan cancelled; finished images are kept, "
                                                                 "Scan again to resume."))

        self.run_job(tasks.run, request, connect=connect, name=f"scan {request.target}")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Image folder", self.folder.text() or str(Path.home()))
        if folder:
            self.set_folder(folder)

    def _reopen(self) -> None:
        """The model, unit, atlas, folder or options changed: clear the old unit's views, then show
        the open atlas's summary of the unit when it covers it, else the folder's cached scan."""
        self._clear()
        self._generation += 1
        generation = self._generation
        model, unit = self.state.model, self.state.unit
        if model is None or unit is None:
            return
        if atlas_figures.covers(self.state.atlas, model, unit):
            self.run_job(tasks.run, AtlasQueryRequest(str(self.state.atlas.folder), str(unit)),
                         name=f"atlas {unit}", on_done=lambda result: self._on_atlas(result, generation))
            return
        folder = self.folder.text().strip()
        if not folder or not Path(folder).is_dir():
            return
        try:
            request = self.request()
        except UserError as error:
            self.status.setText(str(error))
            return
        self.run_job(open_scan, request, name=f"open dataset {unit}",
                     on_done=lambda result: self._on_opened(result, generation))

    def _scan_ended(self) -> None:
        self.scan_button.setEnabled(True)

    def _on_scanned(self, result, generation: int) -> None:
        self._scan_ended()
        self.last_scan = result.scan
        if generation == self._generation:
            self._show(result)
        if result.report is not None:
            self.state.sigDatasetScanned.emit(self.state.model.catalogue.unit(result.report.unit))

    def _on_opened(self, result, generation: int) -> None:
        if generation != self._generation:
            return
        if result is None:
            self.status.setText(f"No scan of this folder for {self.state.unit} yet; press Scan.")
            return
        self._show(result)

    def _on_atlas(self, result, generation: int) -> None:
        if generation != self._generation:
            return
        self.result, self.report = result, None
        summary, atlas = result.summary, self.state.atlas
        stats = summary.statistics
        self.status.setText(f"{summary.unit} from the atlas {atlas.folder.name} (no scan): {atlas.images} images, "
                            f"{stats.get('count', 0):,} positions, {len(atlas.skipped)} skipped. "
                            "Scan to use the folder instead.")
        self.stats_label.setText(_stats_text(stats, summary.fit))
        self._plot_histogram()
        self._plot_expected()
        self.examples.set_image(result.figure(1.0))
        self._fill_skipped(atlas.skipped)

    # ------------------------------------------------------------------ views
    def _clear(self) -> None:
        self.result = self.report = None
        self.stats_label.clear()
        self._plot_histogram()
        self._plot_expected()
        self.examples.set_image(None)
        self.quilt.set_image(None)
        self._fill_skipped([])
        self.status.setText("Pick a folder and press Scan." if not self.folder.text().strip() else "")

    def _show(self, result) -> None:
        self.result = result
        self._follow_view()
        report = self.report = result.report
        self.state.folder = self.folder.text().strip()  # offered by the Labeling pane's New session
        scanned = ""
        if self.last_scan is not None:
            s = self.last_scan
            rate = f" at {s.images_per_second:.1f} images/s" if s.scanned else ""
            scanned = f" Last scan: {s.scanned} new{rate}, {s.reused} from the cache."
        self.status.setText(f"{report.unit} on {report.dataset}: {report.images} images, "
                            f"{len(report.values)} positions, receptive field {report.receptive.size[0]} px, "
                            f"{len(report.bad)} skipped.{scanned}")
        self.stats_label.setText(_stats_text(report.stats, report.fit))
        self._plot_histogram()
        self._plot_expected()
        self.examples.set_image(report_figure(report, "examples"))
        self.quilt.set_image(report_figure(report, "quilt"))
        self._fill_skipped(report.bad)

    def _fill_skipped(self, bad: list[tuple[str, str]]) -> None:
        self.skipped.clear()
        for relpath, error in bad:
            item = QListWidgetItem(relpath)
            item.setToolTip(error)
            self.skipped.addItem(item)
        self.tabs.setTabText(4, f"Skipped ({len(bad)})" if bad or self.result is not None else TABS[4])

    def _density(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Histogram edges and probability density of the shown values (a scan's, or the atlas's counts)."""
        if self.report is not None:
            return histogram(self.report.values, BINS) if len(self.report.values) else None
        summary = getattr(self.result, "summary", None)
        if summary is None or not summary.counts.sum():
            return None
        total = summary.counts.sum() + summary.underflow + summary.overflow
        return summary.edges, summary.counts / (total * np.diff(summary.edges))

    def _plot_histogram(self) -> None:
        plot = self.hist_plot
        plot.clear()
        found = self._density()
        if found is None:
            return
        edges, density = found
        log = self.log_y.isChecked()
        if log:
            density = np.where(density > 0, density, np.nan)
        split = int(((edges[:-1] + edges[1:]) / 2 <= 0).sum())
        for part, colour, name in ((slice(0, split), NEGATIVE_COLOUR, "not firing"),
                                   (slice(split, len(density)), FIRING_COLOUR, "firing")):
            values = density[part]
            if len(values):
                plot.plot(edges[part.start:part.start + len(values) + 1], values, stepMode="center",
                          pen=pg.mkPen(colour, width=1.5), fillLevel=None if log else 0,
                          brush=pg.mkBrush(colour + "80"), name=name)
        fit = self.report.fit if self.report is not None else self.result.summary.fit
        if fit is not None:
            x = np.linspace(max(fit.threshold, edges[0]), edges[-1], 200)
            pen = pg.mkPen(pg.getConfigOption("foreground"), width=1.5, style=Qt.PenStyle.DashLine)
            plot.plot(x, fit.density(x), pen=pen, name=f"exp fit, rate {fit.rate:.3g}")
        plot.setLogMode(y=log)
        plot.setLabel("left", "probability density" + (" (log)" if log else ""))

    def _plot_expected(self) -> None:
        plot = self.xpx_plot
        plot.clear()
        if self.report is not None and len(self.report.values):
            centres, xpx = expected_value_density(self.report.values, BINS)
        elif (found := self._density()) is not None:
            edges, density = found
            centres = (edges[:-1] + edges[1:]) / 2
            xpx = centres * density
        else:
            return
        keep = centres > 0
        if keep.sum() > 1:
            width = centres[1] - centres[0]
            c = centres[keep]
            plot.plot(np.r_[c - width / 2, c[-1] + width / 2], xpx[keep], stepMode="center",
                      pen=pg.mkPen(FIRING_COLOUR, width=1.5), fillLevel=0, brush=pg.mkBrush(FIRING_COLOUR + "80"))

    # ------------------------------------------------------------------ export
    def view(self) -> str:
        """The core figure view matching the visible tab."""
        tab = self.tabs.currentIndex()
        if tab == 0:
            return "log-histogram" if self.log_y.isChecked() else "histogram"
        return {1: "expected", 2: "examples", 3: "quilt"}.get(tab, "summary")

    def _follow_view(self) -> None:
        """A scan's Result follows the visible tab, so its figure and CLI command are the tab's."""
        request = getattr(self.result, "request", None)
        if isinstance(request, ScanRequest) and request.view != self.view():
            self.result = dataclasses.replace(self.result, request=dataclasses.replace(request, view=self.view()))

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        return None if self.result is None else self.result.figure(scale)

    def cli_command(self) -> str | None:
        # The CLI cannot apply the Edits pane's edits: no command reproduces a result of an edited model.
        if self.result is None or self.state.model is None or is_edited(self.result.weights_id):
            return None
        return tasks.command_line(self.result.request, tasks.model_arguments(self.state.model), {"out": "FIG.png"})


def _stats_text(stats: dict[str, float], fit) -> str:
    fit_text = f" · exponential tail rate {fit.rate:.4g} (1/rate {fit.scale:.4g})" if fit else ""
    return (f"mean {stats.get('mean', 0):.4g} · std {stats.get('std', 0):.4g} · range {stats.get('min', 0):.4g} .. "
            f"{stats.get('max', 0):.4g} · firing {stats.get('fraction_firing', 0):.2%}{fit_text}")
