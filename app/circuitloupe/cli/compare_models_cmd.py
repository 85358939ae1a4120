"""circuitloupe compare-models: find curve families in several models and match them (universality).

Run find-curves in each model's curve layer (or --layers, one per model), match the families across
models by the circular cross-correlation of their radial tuning curves, and report which
orientations each model covers.
"""

from __future__ import annotations

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_outputs, run_request
from circuitloupe.tasks.compare_models import ANALYSES, CompareModelsRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("--models", type=types.name_list, required=True, metavar="M1,M2,...", help="model specs, comma-separated")
    parser.add_argument("--analysis", choices=ANALYSES, default="curves", help="what to compare (default curves)")
    parser.add_argument("--layers", type=types.name_list, metavar="L1,L2,...",
                        help="one layer per model (default: each model's curve layer, e.g. block7_depthwise)")
    parser.add_argument("--top", type=types.integer(1, 64), default=10, help="largest family per model (default 10)")
    parser.add_argument("--orientations", type=types.integer(8, 360), default=36, help="orientations over 360 degrees (default 36)")
    parser.add_argument("--radii", type=types.integer(1, 16), default=5, help="curve radii per orientation (default 5)")
    parser.add_argument("--min-correlation", type=types.number(-1.0, 1.0), default=0.7,
                        help="least zero-lag correlation of two tuning curves for a match (default 0.7)")
    parser.add_argument("--max-offset", type=types.number(0.0, 180.0), default=30.0,
                        help="most degrees between matched units' preferred orientations (default 30)")
    add_outputs(parser, "write families, coverage and matches as JSON (- for stdout)", "write the side-by-side figure")
    parser.set_defaults(run=run_request(CompareModelsRequest, unit="batch"))
