"""Dataset pane: scan an image folder for the current unit and look at its distribution.

Pick a folder and press Scan (or reopen a cached scan: it is instant); the pane shows the
pre-ReLU histogram (linear or log y) with the exponential fit of the positive tail and the
firing fraction, x·p(x), the top and bottom examples as receptive-field crops, the
activation quilt, and the files that could not be read. Export writes the tab's core figure.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPushButton, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from circuitloupe.core.dataset import (ScanSettings, UnitReport, expected_value_density, histogram, open_dataset,
                                       resolve_target, scan, unit_report)
from circuitloupe.core.dataset.figures import FIRING_COLOUR, NEGATIVE_COLOUR, report_figure
from circuitloupe.service import JobContext
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.flow_layout import FlowLayout, labelled
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.legend import add_legend
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress

BINS = 100
TABS = ("Distribution", "x·p(x)", "Examples", "Quilt", "Skipped")


def scan_job(ctx: JobContext, unit: str, folder: str, settings: ScanSettings, whole_layer: bool,
             k: int) -> tuple[dict, UnitReport]:
    """Scan (or top up the cache for) ``folder`` and build the unit's report."""
    target = resolve_target(ctx.model, unit, whole_layer=whole_layer)
    result = scan(ctx.model, target, folder, settings, progress=ctx.progress, should_stop=ctx.should_stop)
    summary = {"scanned": result.scanned, "reused": result.reused, "seconds": result.seconds,
               "ignored": len(result.ignored), "rate": result.images_per_second}
    return summary, unit_report(ctx.model, result.cache, target.unit.channel, k=k, should_stop=ctx.should_stop)


def open_job(ctx: JobContext, unit: str, folder: str, settings: ScanSettings, k: int) -> UnitReport | None:
    """The report from an existing cache (no scan), or None when the folder has none for this unit."""
    cache = open_dataset(ctx.model, unit, folder, settings)
    if cache is None:
        return None
    return unit_report(ctx.model, cache, resolve_target(ctx.model, unit).unit.channel, k=k,
                       should_stop=ctx.should_stop)


class DatasetPane(Pane):
    title = "Dataset"
    object_name = "dataset"
    area = Qt.DockWidgetArea.BottomDockWidgetArea
    shortcut = "Ctrl+7"

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of images (searched recursively)")
        self.folder.setToolTip("Image folder to scan: JPEG, PNG, WebP, BMP and TIFF files in it and its subfolders")
        self.folder.editingFinished.connect(self._reopen)
        browse = QPushButton("Browse…")
        browse.setToolTip("Pick the image folder")
        browse.clicked.connect(self._browse)
        self.size = QSpinBox()
        self.size.setRange(0, 1024)
        self.size.setSpecialValueText("model")
        self.size.setSuffix(" px")
        self.size.setToolTip("Input size the images are resized to (\"model\": the model's own input size)")
        self.size.valueChanged.connect(lambda _: self._reopen())
        self.workers = spin_box(
            0, 32, 2, "DataLoader processes decoding images in parallel (0: decode on the worker thread)")
        self.whole_layer = QCheckBox("whole layer")
        self.whole_layer.setToolTip("Cache every unit of the layer (more disk, then any unit of it opens instantly)")
        self.k = QSpinBox()
        self.k.setRange(1, 64)
        self.k.setValue(9)
        self.k.setPrefix("top ")
        self.k.setToolTip("How many top and bottom examples to show")
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

        controls = QHBoxLayout()  # the folder and Scan on one line, the options wrap below
        controls.addWidget(QLabel("Folder"))
        controls.addWidget(self.folder, 1)
        controls.addWidget(browse)
        controls.addWidget(self.scan_button)
        options = FlowLayout()
        for label, widget in (("", self.size), ("workers", self.workers), ("", self.whole_layer), ("", self.k)):
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

        self.report: UnitReport | None = None
        self.last_scan: dict | None = None
        state.sigUnitChanged.connect(lambda _: self._reopen())
        state.sigModelChanged.connect(lambda _: self._reopen())

    # ------------------------------------------------------------------ actions
    def settings(self) -> ScanSettings:
        size = self.size.value()
        return ScanSettings(size=(size, size) if size else None, workers=self.workers.value())

    def set_folder(self, folder: str | Path) -> None:
        """Point the pane at ``folder`` and show its cached scan for the current unit, if any."""
        self.folder.setText(str(folder))
        self._reopen()

    def start_scan(self) -> None:
        unit, folder = self.state.unit, self.folder.text().strip()
        if self.state.model is None or unit is None:
            self.state.message("Load a model and pick a unit before scanning")
            return
        if not folder or not Path(folder).is_dir():
            self.state.message(f"'{folder}' is not a folder; pick the folder of images to scan")
            return
        self.scan_button.setEnabled(False)
        self.status.setText(f"Scanning {folder} for {unit}…")

        def connect(job):
            self.progress.follow(job)
            job.sigFinished.connect(self._on_scanned)
            for signal in (job.sigFailed, job.sigCancelled):
                signal.connect(lambda *_: self._scan_ended())
            job.sigCancelled.connect(lambda: self.status.setText("Scan cancelled; finished images are kept, "
                                                                 "Scan again to resume."))

        self.run_job(scan_job, str(unit), folder, self.settings(), self.whole_layer.isChecked(),
                     self.k.value(), connect=connect, name=f"scan {unit}")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Image folder", self.folder.text() or str(Path.home()))
        if folder:
            self.set_folder(folder)

    def _reopen(self) -> None:
        """The model, unit or folder changed: clear the old unit's report, then show the new one's cached scan."""
        self._clear()
        unit, folder = self.state.unit, self.folder.text().strip()
        if self.state.model is None or unit is None or not folder or not Path(folder).is_dir():
            return
        self.run_job(open_job, str(unit), folder, self.settings(), self.k.value(), name=f"open dataset {unit}",
                     on_done=self._on_opened)

    def _scan_ended(self) -> None:
        self.scan_button.setEnabled(True)

    def _on_scanned(self, result: tuple[dict, UnitReport]) -> None:
        self._scan_ended()
        self.last_scan, report = result
        self._show(report)
        self.state.sigDatasetScanned.emit(self.state.model.catalogue.unit(report.unit))

    def _on_opened(self, report: UnitReport | None) -> None:
        if report is None:
            self.report = None
            self.status.setText(f"No scan of this folder for {self.state.unit} yet; press Scan.")
            return
        self._show(report)

    # ------------------------------------------------------------------ views
    def _clear(self) -> None:
        self.report = None
        self.stats_label.clear()
        self._plot_histogram()
        self._plot_expected()
        self.examples.set_image(None)
        self.quilt.set_image(None)
        self.skipped.clear()
        self.tabs.setTabText(4, TABS[4])
        self.status.setText("Pick a folder and press Scan." if not self.folder.text().strip() else "")

    def _show(self, report: UnitReport) -> None:
        self.report = report
        self.state.folder = self.folder.text().strip()  # offered by the Labeling pane's New session
        scanned = ""
        if self.last_scan is not None:
            s = self.last_scan
            rate = f" at {s['rate']:.1f} images/s" if s["scanned"] else ""
            scanned = f" Last scan: {s['scanned']} new{rate}, {s['reused']} from the cache."
        self.status.setText(f"{report.unit} on {report.dataset}: {report.images} images, "
                            f"{len(report.values)} positions, receptive field {report.receptive.size[0]} px, "
                            f"{len(report.bad)} skipped.{scanned}")
        stats, fit = report.stats, report.fit
        fit_text = f" · exponential tail rate {fit.rate:.4g} (1/rate {fit.scale:.4g})" if fit else ""
        self.stats_label.setText(
            f"mean {stats.get('mean', 0):.4g} · std {stats.get('std', 0):.4g} · range {stats.get('min', 0):.4g} .. "
            f"{stats.get('max', 0):.4g} · firing {stats.get('fraction_firing', 0):.2%}{fit_text}")
        self._plot_histogram()
        self._plot_expected()
        self.examples.set_image(report_figure(report, "examples"))
        self.quilt.set_image(report_figure(report, "quilt"))
        self.skipped.clear()
        for relpath, error in report.bad:
            item = QListWidgetItem(relpath)
            item.setToolTip(error)
            self.skipped.addItem(item)
        self.tabs.setTabText(4, f"Skipped ({len(report.bad)})")

    def _plot_histogram(self) -> None:
        plot = self.hist_plot
        plot.clear()
        if self.report is None or not len(self.report.values):
            return
        log = self.log_y.isChecked()
        edges, density = histogram(self.report.values, BINS)
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
        fit = self.report.fit
        if fit is not None:
            x = np.linspace(max(fit.threshold, edges[0]), edges[-1], 200)
            pen = pg.mkPen(pg.getConfigOption("foreground"), width=1.5, style=Qt.PenStyle.DashLine)
            plot.plot(x, fit.density(x), pen=pen, name=f"exp fit, rate {fit.rate:.3g}")
        plot.setLogMode(y=log)
        plot.setLabel("left", "probability density" + (" (log)" if log else ""))

    def _plot_expected(self) -> None:
        plot = self.xpx_plot
        plot.clear()
        if self.report is None or not len(self.report.values):
            return
        centres, xpx = expected_value_density(self.report.values, BINS)
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

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        if self.report is None:
            return None
        return report_figure(self.report, self.view(), scale)

    def cli_command(self) -> str | None:
        model, report = self.state.model, self.report
        if model is None or report is None:
            return None
        weights = f" --weights {model.weights_spec}" if model.is_random else ""
        size = f" --size {self.size.value()}" if self.size.value() else ""
        return (f"circuitloupe scan {report.unit} {shlex.quote(report.dataset)} --model {model.spec}{weights}{size} "
                f"--view {self.view()} --out dataset.png --json dataset.json")

