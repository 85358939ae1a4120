"""The inference service: failures become signals, cancel is prompt, the GUI keeps turning."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QElapsedTimer, QTimer

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled, check_stop
from circuitloupe.service import InferenceService, Priority


@pytest.fixture
def service(qapp):
    svc = InferenceService("cpu")
    yield svc
    svc.shutdown()


def _boom(ctx):
    raise ValueError("kaput")


def _echo(ctx, value):
    return value, threading.current_thread().name


def _steps(ctx, total, sleep):
    for step in range(total):
        check_stop(ctx.should_stop)
        time.sleep(sleep)
        ctx.progress(step + 1, total)
    return "done"


def test_a_failing_job_reports_and_the_service_keeps_working(qtbot, service):
    failed = service.submit(_boom)
    with qtbot.waitSignal(failed.sigFailed, timeout=5000) as blocker:
        pass
    assert "ValueError: kaput" in blocker.args[0]
    ok = service.submit(_echo, 42)
    with qtbot.waitSignal(ok.sigFinished, timeout=5000) as blocker:
        pass
    value, thread = blocker.args[0]
    assert value == 42 and thread != threading.current_thread().name


def test_user_errors_arrive_as_their_own_sentence(qtbot, service):
    def bad(ctx):
        raise UserError("no layer 'x'")

    job = service.submit(bad)
    with qtbot.waitSignal(job.sigFailed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["no layer 'x'"]


def test_cancel_stops_a_long_job_within_one_step(qtbot, service):
    job = service.submit(_steps, 10_000, 0.01)
    steps = []
    job.sigProgress.connect(lambda step, total, preview: steps.append(step))
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=5000)
    with qtbot.waitSignal(job.sigCancelled, timeout=2000):
        job.cancel()
    assert steps[-1] < 10_000
    after = service.submit(_echo, "next")
    with qtbot.waitSignal(after.sigFinished, timeout=5000):
        pass


def test_queued_job_that_is_cancelled_never_runs(qtbot, service):
    ran = []
    blocker_job = service.submit(_steps, 20, 0.01)
    queued = service.submit(_echo, 1)
    queued.sigStarted.connect(lambda: ran.append(True))
    queued.cancel()
    with qtbot.waitSignals([blocker_job.sigFinished, queued.sigCancelled], timeout=5000):
        pass
    assert not ran


def test_user_jobs_jump_ahead_of_queued_background_ones(qtbot, service):
    order = []
    running = service.submit(_steps, 30, 0.01)
    background = service.submit(_echo, "background", priority="background")
    first = service.submit(_echo, "first")
    second = service.submit(_echo, "second", priority=Priority.USER)
    for job in (background, first, second):
        job.sigFinished.connect(lambda r: order.append(r[0]))
    qtbot.waitUntil(lambda: len(order) == 3, timeout=5000)
    assert order == ["first", "second", "background"]
    assert running.done


def test_event_loop_keeps_turning_while_a_model_job_runs(qtbot, service, inception):
    """A 10 ms timer keeps firing during a forward-heavy job (loose bound for a noisy CI)."""
    import torch

    from circuitloupe.core.activations import forward_until

    def heavy(ctx):
        x = torch.rand(4, 3, 224, 224)
        for _ in range(6):
            check_stop(ctx.should_stop)
            forward_until(inception, x, ["mixed4a"])
        return True

    gaps, clock = [], QElapsedTimer()
    clock.start()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: (gaps.append(clock.restart())))
    timer.start()
    job = service.submit(heavy)
    with qtbot.waitSignal(job.sigFinished, timeout=60_000):
        pass
    timer.stop()
    assert len(gaps) > 10
    assert max(gaps[1:]) < 500, f"event loop stalled for {max(gaps[1:])} ms"


def test_load_model_job_switches_models(qtbot, service):
    service.load("inceptionv1", "random:3")
    with qtbot.waitSignal(service.sigModelChanged, timeout=30_000) as blocker:
        pass
    assert blocker.args[0].weights_id == "random:3"
    assert service.model is blocker.args[0]
    bad = service.load("no_such_model")
    with qtbot.waitSignal(bad.sigFailed, timeout=30_000) as blocker:
        pass
    assert "no model called 'no_such_model'" in blocker.args[0]
    assert service.model.weights_id == "random:3"


def test_check_stop_raises_cancelled():
    with pytest.raises(Cancelled):
        check_stop(lambda: True)
    check_stop(lambda: False)
    check_stop(None)


def _resumable(ctx, done: list, total: int):
    """Background work that keeps what it did (like thumbnails in their cache) and continues."""
    while len(done) < total:
        check_stop(ctx.should_stop)
        time.sleep(0.01)
        done.append(len(done))
        ctx.progress(len(done), total)
    return list(done)


def test_a_user_job_pauses_running_background_work_which_resumes_where_it_stopped(qtbot, service):
    done: list[int] = []
    background = service.submit(_resumable, done, 60, priority="background")
    starts = []
    background.sigStarted.connect(lambda: starts.append(len(done)))
    qtbot.waitUntil(lambda: len(done) >= 5, timeout=5000)
    clicked = time.perf_counter()
    click = service.submit(_echo, "click")
    started = []
    click.sigStarted.connect(lambda: started.append((time.perf_counter() - clicked, len(done))))
    with qtbot.waitSignals([click.sigFinished, background.sigFinished], timeout=10_000) as blocker:
        pass
    delay, done_when_clicked = started[0]
    assert delay < 0.5, f"the click waited {delay:.2f} s for background work"
    assert done_when_clicked < 60  # it ran before the background work was through
    assert background.paused == 1 and not background.cancel_requested
    assert len(starts) == 2 and starts[1] >= done_when_clicked  # resumed, not restarted
    assert done == list(range(60))  # every step ran exactly once


def test_a_user_job_never_pauses_another_user_job(qtbot, service):
    steps = []
    long_job = service.submit(_steps, 30, 0.01)
    long_job.sigProgress.connect(lambda step, total, preview: steps.append(step))
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=5000)
    quick = service.submit(_echo, "click")
    with qtbot.waitSignals([long_job.sigFinished, quick.sigFinished], timeout=5000):
        pass
    assert long_job.paused == 0 and not long_job.cancel_requested


def test_cancelling_a_paused_background_job_ends_it(qtbot, service):
    background = service.submit(_steps, 10_000, 0.01, priority="background")
    qtbot.waitUntil(lambda: service._running is background, timeout=5000)
    blocker_job = service.submit(_steps, 20, 0.01)
    qtbot.waitUntil(lambda: service._running is blocker_job, timeout=5000)
    background.cancel()
    with qtbot.waitSignal(background.sigCancelled, timeout=5000):
        pass
    assert background.done


@pytest.mark.parametrize("error", [SystemExit(2), KeyboardInterrupt()])
def test_a_job_raising_systemexit_or_keyboardinterrupt_fails_and_the_service_keeps_serving(qtbot, service, error):
    def exits(ctx):  # e.g. a model file that calls argparse at import
        raise error

    job = service.submit(exits, name="custom model")
    with qtbot.waitSignal(job.sigFailed, timeout=5000) as blocker:
        pass
    assert type(error).__name__ in blocker.args[0] and job.details
    after = service.submit(_echo, "still serving")
    with qtbot.waitSignal(after.sigFinished, timeout=5000) as blocker:
        pass
    assert blocker.args[0][0] == "still serving"
