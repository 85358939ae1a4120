"""Fixtures shared by the CLI tests."""

import pytest

from circuitloupe.cli import label_cmd, scan_cmd


@pytest.fixture
def shared_inception(inception, monkeypatch):
    """The scan and label commands, given inceptionv1 random:0, get the session's copy instead of
    rebuilding it."""
    def open_model(args):
        assert (args.model, args.weights) == ("inceptionv1", "random:0")
        return inception

    for module in (scan_cmd, label_cmd):
        monkeypatch.setattr(module, "open_model", open_model)
