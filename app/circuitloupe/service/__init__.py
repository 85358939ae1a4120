"""The inference service: the one thread that owns the model and the device."""

from circuitloupe.service.inference import InferenceService, Job, JobContext, Priority

__all__ = ["InferenceService", "Job", "JobContext", "Priority"]
