"""The use-case layer: every analysis as a Request, ``run(ctx, request) -> Result``.

Panes build Requests and show Results, the CLI parses argv into a Request and writes the Result,
and ``import circuitloupe as cl`` offers the same tasks by their CLI names (:mod:`circuitloupe.api`).
"""

from circuitloupe.tasks.base import Context, Request, Result, TaskContext, command_line, run, task
from circuitloupe.tasks.atlas import (AtlasBuildRequest, AtlasBuildResult, AtlasExportRequest, AtlasExportResult,
                                     AtlasQueryRequest, AtlasQueryResult)
from circuitloupe.tasks.featvis import FeatvisRequest, FeatvisResult

#: Every task's Request type by its CLI sub-command.
REQUESTS: dict[str, type[Request]] = {r.command: r for r in (FeatvisRequest, AtlasBuildRequest, AtlasQueryRequest,
                                                            AtlasExportRequest)}

__all__ = ["AtlasBuildRequest", "AtlasBuildResult", "AtlasExportRequest", "AtlasExportResult", "AtlasQueryRequest",
           "AtlasQueryResult", "Context", "FeatvisRequest", "FeatvisResult", "REQUESTS", "Request", "Result", "TaskContext",
           "command_line", "run", "task"]
