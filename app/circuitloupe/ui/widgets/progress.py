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
        self.bar.setMinimumWidth(50)  # narrow docks keep Cancel in sight
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
        self.part: tuple[int, int, int] | None = None
        self._started = 0.0

    def follow(self, job: Job, part: tuple[int, int, int] | None = None) -> None:
        """Show ``job``'s progress from now on (a job followed earlier no longer updates the bar).

        ``part = (done, share, total)``: the job is ``share`` items of a task of ``total`` of which
        ``done`` are finished, and the bar shows the whole task (it continues, not from 0)."""
        self.job = job
        self.part = part
        self._started = time.perf_counter()
        if part is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, max(part[2], 1))
            self.bar.setValue(part[0])
        self.rate.setText("queued")
        self.cancel_button.setEnabled(True)
        job.sigStarted.connect(lambda: self._on_started(job))
        job.sigProgress.connect(lambda step, total, _preview: self._on_progress(job, step, total))
        job.sigFinished.connect(lambda _result: self._on_done(job, "done"))
        job.sigFailed.connect(lambda _message: self._on_done(job, "failed"))
        job.sigCancelled.connect(lambda: self._on_done(job, "cancelled"))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_started(self, job: Job) -> None:
        if job is self.job:
            self._started = time.perf_counter()
            self.rate.setText("running")

    def _on_progress(self, job: Job, step: int, total: int) -> None:
        if job is not self.job:
            return
        if self.part is None:
            self.bar.setRange(0, max(total, 1))
            self.bar.setValue(step)
        else:
            done, share, whole = self.part
            self.bar.setValue(done + int(share * step / max(total, 1)))
        elapsed = time.perf_counter() - self._started
        if elapsed > 0 and step > 0:
            self.rate.setText(f"{step / elapsed:.1f} {self.unit}/s")

    def _on_done(self, job: Job, outcome: str) -> None:
        if job is not self.job:
            return
        self.cancel_button.setEnabled(False)
        if self.part is not None:
            done, share, _whole = self.part
            self.bar.setValue(done + share if outcome == "done" else done)
        else:
            self.bar.setRange(0, 1)
            self.bar.setValue(1 if outcome == "done" else 0)
        if outcome != "done" or self.rate.text() in ("queued", "running"):
            self.rate.setText(outcome)
        self.job = None
