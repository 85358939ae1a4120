"""InferenceService: one worker thread owns the loaded model and the device.

Panes never touch the model. They submit a job, a core callable ``fn(ctx, *args, **kwargs)``
whose :class:`JobContext` carries the model, the device and the ``progress``/``should_stop``
callbacks, and get back a :class:`Job` whose signals report progress, the result, a failure or
a cancellation on the GUI thread. Jobs run one at a time in submission order, except that
interactive jobs go before queued long ones. An exception in a job becomes ``sigFailed`` with a
readable message; the service keeps running.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from PySide6.QtCore import QObject, QThread, QTimer, Signal

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled
from circuitloupe.core.models import LoadedModel, load_model, pick_device

log = logging.getLogger(__name__)

INTERACTIVE, LONG = 0, 1


@dataclass
class JobContext:
    """What a job function gets: the model, the device and its progress/stop callbacks."""

    model: LoadedModel | None
    device: torch.device
    progress: Callable[..., None]
    should_stop: Callable[[], bool]
    service: "InferenceService" = field(repr=False, default=None)


class Job(QObject):
    """A handle on one submitted job. Signals arrive on the thread that created the handle."""

    sigStarted = Signal()
    sigProgress = Signal(int, int, object)  # step, total, preview (or None)
    sigFinished = Signal(object)  # the job's return value
    sigFailed = Signal(str)  # one readable line
    sigCancelled = Signal()

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, name: str, priority: int,
                 yields: bool = False) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name
        self.priority = priority
        self.yields = yields  # a background job that an interactive one cancels while it runs
        self.preempted = False  # cancelled by the service for an interactive job, not by the user
        self.details = ""  # traceback text of a failure, for the log pane
        self._stop = threading.Event()
        self.done = False

    def cancel(self) -> None:
        """Ask the job to stop; it stops within one step (or never starts)."""
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()


class _Worker(QObject):
    sigModelChanged = Signal(object)  # LoadedModel
    sigBusy = Signal(bool)

    def __init__(self, service: InferenceService) -> None:
        super().__init__()
        self.service = service

    def loop(self) -> None:
        while True:
            _, _, job = self.service._queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        if job.cancel_requested:
            job.done = True
            job.sigCancelled.emit()
            return
        self.sigBusy.emit(True)
        self.service._running = job
        job.sigStarted.emit()
        ctx = JobContext(self.service.model, self.service.device,
                         lambda step, total, preview=None: job.sigProgress.emit(step, total, preview),
                         job._stop.is_set, self.service)
        try:
            result = job.fn(ctx, *job.args, **job.kwargs)
        except Cancelled:
            job.done = True
            job.sigCancelled.emit()
        except UserError as error:
            job.done = True
            job.sigFailed.emit(str(error))
        except Exception as error:  # a bug in a job must not kill the service
            job.details = traceback.format_exc()
            log.error("job %s failed:\n%s", job.name, job.details)
            job.done = True
            job.sigFailed.emit(f"{job.name} failed: {type(error).__name__}: {error}")
        else:
            job.done = True
            job.sigFinished.emit(result)
        finally:
            self.service._running = None
            self.sigBusy.emit(False)


class InferenceService(QObject):
    """Owns the model and device on a worker thread; runs submitted jobs one at a time."""

    sigModelChanged = Signal(object)  # LoadedModel, emitted on the GUI thread
    sigBusy = Signal(bool)
    sigSubmitted = Signal(object)  # Job, for the status bar

    def __init__(self, device: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.device = pick_device(device)
        self.model: LoadedModel | None = None
        self._running: Job | None = None
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = QThread()
        self._thread.setObjectName("inference")
        self._worker = _Worker(self)
        self._worker.moveToThread(self._thread)
        self._worker.sigBusy.connect(self.sigBusy)
        self._thread.started.connect(self._worker.loop)
        self._thread.start()

    def submit(self, fn: Callable, *args: Any, name: str | None = None, interactive: bool = False,
               yields: bool = False, **kwargs: Any) -> Job:
        """Queue ``fn(ctx, *args, **kwargs)``; interactive jobs go before queued long ones.

        A ``yields`` job (background work such as thumbnails) is cancelled, with ``preempted`` set,
        when an interactive job is submitted while it runs, so a click never waits for it.
        """
        priority = INTERACTIVE if interactive else LONG
        job = Job(fn, args, kwargs, name or getattr(fn, "__name__", "job"), priority, yields)
        running = self._running
        if interactive and running is not None and running.yields and not running.done:
            running.preempted = True
            running.cancel()
        entry = (priority, next(self._order), job)
        # Queue on the next event-loop turn, so the caller connects its handlers before the
        # worker can start (and finish) the job; a signal with no receiver yet would be lost.
        QTimer.singleShot(0, self, lambda: self._queue.put(entry))
        self.sigSubmitted.emit(job)
        return job

    def load(self, spec: str, weights: str | None = None) -> Job:
        """Switch models, as a job; ``sigModelChanged`` follows its success."""
        job = self.submit(_load_job, spec, weights, name=f"load {spec}")
        job.sigFinished.connect(self._on_loaded)
        return job

    def _on_loaded(self, model: LoadedModel) -> None:
        self.sigModelChanged.emit(model)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop the worker after the running job; queued jobs are dropped."""
        while True:
            try:
                _, _, job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.cancel()
        self._queue.put((-1, -1, None))
        self._thread.quit()
        self._thread.wait(timeout_ms)


def _load_job(ctx: JobContext, spec: str, weights: str | None) -> LoadedModel:
    started = time.perf_counter()
    model = load_model(spec, weights, device=ctx.device,
                       progress=lambda done, total: ctx.progress(done, total, None))
    model.catalogue  # computed here, off the GUI thread
    ctx.service.model = model
    log.info("loaded %s (%s) in %.2f s", spec, model.weights_description, time.perf_counter() - started)
    return model
