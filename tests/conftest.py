"""Shared test set-up: headless Qt, a private data folder, small seeded models."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `import support`

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch):
    """Every test writes user data (labels, caches, settings) into its own folder."""
    monkeypatch.setenv("CIRCUITLOUPE_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(autouse=True)
def collect_garbage_on_the_main_thread():
    """As the app does (circuitloupe.ui.gui_gc): cycles are collected on the main thread, after each
    test and on the Qt event loop while one runs, never by an inference worker, which would destroy
    the Qt objects of earlier tests there (PySide then deadlocks or crashes)."""
    gc.disable()
    from PySide6.QtCore import QCoreApplication

    from circuitloupe.ui.gui_gc import collect_due, collect_on_gui_thread

    if (app := QCoreApplication.instance()) is not None:
        collect_on_gui_thread(app)
    yield
    collect_due()


@pytest.fixture
def one_thread():
    """One intra-op thread: deterministic and much faster on a crowded CI runner (feature visualisation)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def inception():
    """InceptionV1 with seeded random weights (seed 0), shared by the whole session."""
    from circuitloupe.core.models import load_model

    return load_model("inceptionv1", "random:0")


@pytest.fixture(scope="session")
def efficientnet():
    """EfficientNet-Lite0 with its packaged ImageNet weights, shared by the whole session."""
    from circuitloupe.core.models import load_model

    return load_model("efficientnet_lite0")
