"""The status bar's job display: the running job's name and progress, and whether any job is pending."""

from __future__ import annotations

import weakref

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from circuitloupe.service import InferenceService, Job


class JobStatus(QObject):
    """Follows every job submitted to ``service``: its name and a progress bar in ``bar`` while it
    runs. It never keeps a job alive: its handlers reach the job through a weak reference (a job
    holds its arguments, e.g. an image). ``sigEnded`` after each job; ``sigBug(message, details)``
    for a job that failed with a traceback (a bug, not a user's mistake)."""

    sigEnded = Signal()
    sigBug = Signal(str, str)

    def __init__(self, service: InferenceService, bar: QStatusBar) -> None:
        super().__init__(bar)
        self._jobs: weakref.WeakSet[Job] = weakref.WeakSet()  # queued or running (the service holds them)
        self.label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setVisible(False)
        self.progress.setToolTip("Progress of the running job")
        bar.addPermanentWidget(self.label)
        bar.addPermanentWidget(self.progress)
        service.sigSubmitted.connect(self.follow)

    def busy(self) -> bool:
        """True while any submitted job is queued or running."""
        return bool(self._jobs)

    def follow(self, job: Job) -> None:
        self._jobs.add(job)
        ref = weakref.ref(job)

        def started() -> None:
            self.label.setText(ref().name if ref() is not None else "")
            self.progress.setVisible(True)
            self.progress.setRange(0, 0)

        def progress(step: int, total: int, _preview) -> None:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(step)

        def done(*_args) -> None:
            self._jobs.discard(ref())
            self.progress.setVisible(False)
            self.label.setText("")
            self.sigEnded.emit()

        def failed(message: str) -> None:
            details = ref().details if ref() is not None else ""
            if details:
                self.sigBug.emit(message, details)

        job.sigStarted.connect(started)
        job.sigProgress.connect(progress)
        job.sigFailed.connect(failed)
        for signal in (job.sigFinished, job.sigFailed, job.sigCancelled):
            signal.connect(done)
