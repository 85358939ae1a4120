"""The use-case layer: every analysis as a Request, ``run(ctx, request) -> Result``.

Panes build Requests and show Results, the CLI parses argv into a Request and writes the Result,
and ``import circuitloupe as cl`` offers the same tasks by their CLI names (:mod:`circuitloupe.api`).
"""

from circuitloupe.tasks.ablate import AblateRequest, AblateResult
from circuitloupe.tasks.activations import ActivationsRequest, ActivationsResult
from circuitloupe.tasks.atlas import (AtlasBuildRequest, AtlasBuildResult, AtlasExportRequest, AtlasExportResult,
                                     AtlasQueryRequest, AtlasQueryResult)
from circuitloupe.tasks.attribute import AttributeRequest, ContributionsResult, CurvesResult, InputAttributionResult
from circuitloupe.tasks.base import (Context, Request, Result, TaskContext, command_line, model_arguments, run,
                                     task)
from circuitloupe.tasks.circuit import CircuitRequest, CircuitResult
from circuitloupe.tasks.compare_models import CompareModelsRequest, CompareModelsResult
from circuitloupe.tasks.equivariance import DiscoverResult, EquivarianceRequest, EquivarianceResult
from circuitloupe.tasks.expanded import ExpandedRequest, ExpandedResult
from circuitloupe.tasks.factors import FactorsRequest, FactorsResult
from circuitloupe.tasks.featvis import FeatvisRequest, FeatvisResult
from circuitloupe.tasks.find_curves import FindCurvesRequest, FindCurvesResult
from circuitloupe.tasks.handwritten import HandwrittenRequest, HandwrittenResult
from circuitloupe.tasks.label_stats import LabelStatsRequest, LabelStatsResult
from circuitloupe.tasks.outputs import OutputsRequest, OutputsResult
from circuitloupe.tasks.polysemanticity import PolysemanticityRequest, PolysemanticityResult
from circuitloupe.tasks.predict import PredictRequest, PredictResult
from circuitloupe.tasks.scan import ScanRequest, ScanTaskResult
from circuitloupe.tasks.tuning import TuningRequest, TuningResult
from circuitloupe.tasks.weights import FiltersResult, RotatedResult, WeightsRequest

#: Every task's Request type by its CLI sub-command.
REQUESTS: dict[str, type[Request]] = {r.command: r for r in (
    ActivationsRequest, PredictRequest, FeatvisRequest, WeightsRequest, ExpandedRequest, CircuitRequest,
    AttributeRequest, TuningRequest, FindCurvesRequest, EquivarianceRequest, ScanRequest, LabelStatsRequest,
    CompareModelsRequest, AblateRequest, FactorsRequest, OutputsRequest, HandwrittenRequest, PolysemanticityRequest,
    AtlasBuildRequest, AtlasQueryRequest, AtlasExportRequest)}

__all__ = ["AblateRequest", "AblateResult", "ActivationsRequest", "ActivationsResult", "AtlasBuildRequest", "AtlasBuildResult",
           "AtlasExportRequest", "AtlasExportResult", "AtlasQueryRequest", "AtlasQueryResult", "AttributeRequest",
           "CircuitRequest", "CircuitResult", "CompareModelsRequest", "CompareModelsResult", "Context",
           "ContributionsResult", "CurvesResult", "DiscoverResult", "EquivarianceRequest", "EquivarianceResult",
           "ExpandedRequest", "ExpandedResult", "FactorsRequest", "FactorsResult", "FeatvisRequest", "FeatvisResult",
           "FiltersResult", "FindCurvesRequest", "FindCurvesResult", "HandwrittenRequest", "HandwrittenResult",
           "InputAttributionResult", "LabelStatsRequest", "LabelStatsResult", "OutputsRequest", "OutputsResult",
           "PolysemanticityRequest", "PolysemanticityResult", "PredictRequest", "PredictResult", "REQUESTS",
           "Request", "Result", "RotatedResult", "ScanRequest", "ScanTaskResult", "TaskContext", "TuningRequest",
           "TuningResult", "WeightsRequest", "command_line", "model_arguments", "run", "task"]
