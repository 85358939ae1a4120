"""InferenceService: one worker thread owns the loaded model and the device.

Panes never touch the model. They submit a job, a core callable ``fn(ctx, *args, **kwargs)``
whose :class:`JobContext` carries the model, the device and the ``progress``/``should_stop``
callbacks, and get back a :class:`Job` whose signals report progress, the result, a failure or
a cancellation on the GUI thread.

Jobs have a :class:`Priority`. ``USER`` jobs (anything a person started: a click, a key, a
model load) run before every ``BACKGROUND`` job (thumbnails nobody waits for), and submitting one
pauses a running background job at its next ``should_stop`` check; the paused job is queued
again and resumes (it is called again; the thumbnail jobs find what they rendered in the cache)
once no user job waits. Within a priority, jobs run in submission order.

Anything a job raises becomes ``sigFailed`` with a readable line, ``SystemExit`` and
``KeyboardInterrupt`` included (a model file that calls argparse at import); the service keeps
serving. The worker imports torch itself, so creating the service costs no torch import on the
GUI thread (``sigReady`` follows, with the device).
"""

from __future__ import annotations

import enum
import itertools
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled

if TYPE_CHECKING:
    import torch

    from circuitloupe.core.models import LoadedModel

log = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    """What a job is for, which decides when it runs."""

    USER = 0  # a person started it and waits for it: runs first, pauses background work
    BACKGROUND = 1  # nobody waits for it (thumbnails): runs when no user job waits, resumes when paused


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

    sigStarted = Signal()  # each time it starts: again when a paused background job resumes
    sigProgress = Signal(int, int, object)  # step, total, preview (or None)
    sigFinished = Signal(object)  # the job's return value
    sigFailed = Signal(str)  # one readable line
    sigCancelled = Signal()

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, name: str, priority: Priority) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name
        self.priority = priority
        self.paused = 0  # how many times a user job paused it (background jobs only)
        self.details = ""  # traceback text of a failure, for the log pane
        self.done = False
        self._stop = threading.Event()  # asked to stop: by cancel() or by a pause
        self._cancelled = False  # cancel() was called: the job ends, it never resumes

    def cancel(self) -> None:
        """Ask the job to stop; it stops within one step (or never starts)."""
        self._cancelled = True
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancelled

    def _pause(self) -> None:
        self._stop.set()


class _Worker(QObject):
    sigBusy = Signal(bool)
    sigReady = Signal(str)  # the device, once torch is imported
    sigReleased = Signal(object)  # a Job that ended: every signal of it has been emitted

    def __init__(self, service: InferenceService, device: str | None, preload: Callable[[], Any] | None) -> None:
        super().__init__()
        self.service = service
        self.preference = device
        self.preload = preload

    def loop(self) -> None:
        self._start()
        while True:
            _, _, job = self.service._queue.get()
            if job is None:
                return
            self.service._take(job)
            try:
                self._run(job)
            finally:
                self.service._take(None)
            if job.done:
                self.sigReleased.emit(job)
            job = None  # hold no finished job while waiting for the next

    def _start(self) -> None:
        """Import torch and pick the device here, off the GUI thread."""
        from circuitloupe.core.models import pick_device

        try:
            self.service.device = pick_device(self.preference)
        except Exception as error:  # e.g. cuda asked for but absent: say so, run on the CPU
            log.warning("%s; using the CPU", error)
            self.service.device = pick_device("cpu")
        _install_pause_hook()
        if self.preload is not None:  # e.g. the panes' modules, imported while the window shows
            try:
                self.preload()
            except Exception:  # the GUI thread imports them again and reports what fails
                log.exception("preloading failed")
        self.service._ready.set()
        self.sigReady.emit(str(self.service.device))

    def _run(self, job: Job) -> None:
        if job.cancel_requested:
            job.done = True
            job.sigCancelled.emit()
            return
        self.sigBusy.emit(True)
        job.sigStarted.emit()
        ctx = JobContext(self.service.model, self.service.device,
                         lambda step, total, preview=None: job.sigProgress.emit(step, total, preview),
                         job._stop.is_set, self.service)
        _pausing.stop = job._stop.is_set if job.priority == Priority.BACKGROUND else None
        try:
            result = job.fn(ctx, *job.args, **job.kwargs)
        except Cancelled:
            if not self.service._requeue_paused(job):
                job.done = True
                job.sigCancelled.emit()
        except UserError as error:
            job.done = True
            job.sigFailed.emit(str(error))
        except BaseException as error:  # a bug (or a sys.exit) in a job must not end the service
            job.details = traceback.format_exc()
            log.error("job %s failed:\n%s", job.name, job.details)
            job.done = True
            job.sigFailed.emit(f"{job.name} failed: {type(error).__name__}: {error}")
        else:
            job.done = True
            job.sigFinished.emit(result)
        finally:
            _pausing.stop = None
            self.sigBusy.emit(False)


class InferenceService(QObject):
    """Owns the model and device on a worker thread; runs submitted jobs one at a time."""

    sigModelChanged = Signal(object)  # LoadedModel, emitted on the GUI thread
    sigBusy = Signal(bool)
    sigReady = Signal(str)  # the device name, once the worker has imported torch
    sigSubmitted = Signal(object)  # Job, for the status bar

    def __init__(self, device: str | None = None, parent: QObject | None = None,
                 preload: Callable[[], Any] | None = None) -> None:
        """``preload``: called on the worker after it imports torch, before ``sigReady``."""
        super().__init__(parent)
        self.device: torch.device | None = None  # set by the worker before its first job
        self.model: LoadedModel | None = None
        self._running: Job | None = None
        self._user_waiting = 0  # user jobs queued and not yet taken by the worker
        self._live: set[Job] = set()  # submitted jobs, until their last signal has been delivered
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = QThread()
        self._thread.setObjectName("inference")
        self._worker = _Worker(self, device, preload)
        self._worker.moveToThread(self._thread)
        self._worker.sigBusy.connect(self.sigBusy)
        self._worker.sigReady.connect(self.sigReady)
        self._worker.sigReleased.connect(self._release)
        self._thread.started.connect(self._worker.loop)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the worker has imported torch and picked the device."""
        return self._ready.wait(timeout)

    def submit(self, fn: Callable, *args: Any, name: str | None = None,
               priority: Priority | str = Priority.USER, **kwargs: Any) -> Job:
        """Queue ``fn(ctx, *args, **kwargs)`` as a ``"user"`` (default) or ``"background"`` job.

        A user job goes before every queued background job and pauses a running one, which
        resumes after it (see the module's docstring).
        """
        priority = Priority[priority.upper()] if isinstance(priority, str) else Priority(priority)
        job = Job(fn, args, kwargs, name or getattr(fn, "__name__", "job"), priority)
        job._order = next(self._order)
        self._live.add(job)
        # Queue on the next event-loop turn, so the caller connects its handlers before the
        # worker can start (and finish) the job; a signal with no receiver yet would be lost.
        QTimer.singleShot(0, self, lambda: self._enqueue(job))
        self.sigSubmitted.emit(job)
        return job

    def _release(self, job: Job) -> None:
        """Forget a job that ended. The worker asks once it has emitted the job's last signal,
        so every receiver has had it (a job freed earlier would never reach them)."""
        self._live.discard(job)

    def _enqueue(self, job: Job) -> None:
        """Queue ``job``; a user job pauses the running background job (queued first, so the
        paused job, queued again, comes after it)."""
        with self._lock:
            self._queue.put((job.priority, job._order, job))
            if job.priority == Priority.USER:
                self._user_waiting += 1
                running = self._running
                if running is not None and running.priority == Priority.BACKGROUND:
                    running._pause()

    def _take(self, job: Job | None) -> None:
        """The worker took ``job`` from the queue (None: it is through with it). A background
        job taken while a user job was being queued pauses at once."""
        with self._lock:
            self._running = job
            if job is None:
                return
            if job.priority == Priority.USER:
                self._user_waiting -= 1
            elif self._user_waiting:
                job._pause()

    def _requeue_paused(self, job: Job) -> bool:
        """Put a paused (not cancelled) background job back in the queue, ahead of later
        background jobs; False when it was cancelled, so it ends."""
        with self._lock:
            if job.cancel_requested or job.priority != Priority.BACKGROUND:
                return False
            job._stop.clear()
            job.paused += 1
        self._queue.put((job.priority, job._order, job))
        return True

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
        running = self._running
        if running is not None:
            running.cancel()
        self._queue.put((-1, -1, None))
        self._thread.quit()
        self._thread.wait(timeout_ms)


_pausing = threading.local()  # .stop: the running background job's stop check (worker thread only)


def _install_pause_hook() -> None:
    """Let a background job pause between two layers, not only between its own steps (a
    feature-visualisation step of a batch of thumbnails takes a second or more on a CPU): a
    forward pre-hook on every module raises Cancelled once the job is asked to stop."""
    import torch

    def check(_module, _inputs) -> None:
        stop = getattr(_pausing, "stop", None)
        if stop is not None and stop():
            raise Cancelled()

    torch.nn.modules.module.register_module_forward_pre_hook(check)


def _load_job(ctx: JobContext, spec: str, weights: str | None) -> LoadedModel:
    from circuitloupe.core.models import load_model

    started = time.perf_counter()
    model = load_model(spec, weights, device=ctx.device,
                       progress=lambda done, total: ctx.progress(done, total, None))
    model.catalogue  # computed here, off the GUI thread
    ctx.service.model = model
    log.info("loaded %s (%s) in %.2f s", spec, model.weights_description, time.perf_counter() - started)
    return model
