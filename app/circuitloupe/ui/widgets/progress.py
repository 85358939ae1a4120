"""JobProgress: a progress bar with rate and a Cancel button that follows one Job at a time."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from circuitloupe.service import Job


class JobProgress(QWidget):
    def __init__(self, unit: str = "steps", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.unit = unit
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.rate = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job (it stops within one step)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.rate)
        layout.addWidget(self.cancel_button)
        self.job: Job | None = None
        self._started = 0.0

    def follow(self, job: Job) -> None:
        self.job = job
        self._started = time.perf_counter()
        self.bar.setRange(0, 0)
        self.rate.setText("queued")
        self.cancel_button.setEnabled(True)
        job.sigStarted.connect(self._on_started)
        job.sigProgress.connect(self._on_progress)
        for signal in (job.sigFinished, job.sigFailed, job.sigCancelled):
            signal.connect(self._on_done)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_started(self) -> None:
        self._started = time.perf_counter()
        self.rate.setText("running")

    def _on_progress(self, step: int, total: int, _preview=None) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(step)
        elapsed = time.perf_counter() - self._started
        if elapsed > 0 and step > 0:
            self.rate.setText(f"{step / elapsed:.1f} {self.unit}/s")

    def _on_done(self, *_args) -> None:
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if self.job is not None and not self.job.cancel_requested else 0)
        if self.job is not None and self.job.cancel_requested:
            self.rate.setText("cancelled")
        self.job = None
