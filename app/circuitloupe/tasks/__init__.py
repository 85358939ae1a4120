"""The use-case layer: every analysis as a Request, ``run(ctx, request) -> Result``.

Panes build Requests and show Results, the CLI parses argv into a Request and writes the Result,
and ``import circuitloupe as cl`` offers the same tasks by their CLI names (:mod:`circuitloupe.api`).
"""

from circuitloupe.tasks.base import Context, Request, Result, TaskContext, command_line, run, task
from circuitloupe.tasks.ablate import AblateRequest, AblateResult
from circuitloupe.tasks.atlas import (AtlasBuildRequest, AtlasBuildResult, AtlasExportRequest, AtlasExportResult,
                                     AtlasQueryRequest, AtlasQueryResult)
from circuitloupe.tasks.compare_models import CompareModelsRequest, CompareModelsResult
from circuitloupe.tasks.factors import FactorsRequest, FactorsResult
from circuitloupe.tasks.featvis import FeatvisRequest, FeatvisResult
from circuitloupe.tasks.handwritten import HandwrittenRequest, HandwrittenResult
from circuitloupe.tasks.polysemanticity import PolysemanticityRequest, PolysemanticityResult
from circuitloupe.tasks.outputs import OutputsRequest, OutputsResult

#: Every task's Request type by its CLI sub-command.
REQUESTS: dict[str, type[Request]] = {r.command: r for r in (FeatvisRequest, CompareModelsRequest, AblateRequest,
                                                                     FactorsRequest, OutputsRequest, HandwrittenRequest,
                                                                     PolysemanticityRequest, AtlasBuildRequest, AtlasQueryRequest,
                                                                     AtlasExportRequest)}

__all__ = ["AblateRequest", "AblateResult", "AtlasBuildRequest", "AtlasBuildResult", "AtlasExportRequest",
           "AtlasExportResult", "AtlasQueryRequest", "AtlasQueryResult", "CompareModelsRequest", "CompareModelsResult",
           "Context", "FactorsRequest", "FactorsResult", "FeatvisRequest", "FeatvisResult", "HandwrittenRequest",
           "HandwrittenResult", "OutputsRequest", "OutputsResult", "PolysemanticityRequest", "PolysemanticityResult",
           "REQUESTS", "Request", "Result", "TaskContext", "command_line", "run", "task"]
