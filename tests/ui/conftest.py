"""Fixtures shared by the pane tests."""

import pytest

from circuitloupe.service import InferenceService


@pytest.fixture
def service(inception):
    """An inference service already holding the session's InceptionV1 (seeded random weights)."""
    service = InferenceService("cpu")
    service.model = inception
    yield service
    service.shutdown()
