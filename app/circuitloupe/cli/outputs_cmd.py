"""circuitloupe outputs: the later units a unit feeds most strongly (expanded-weight norm).

Rank the units of --layer (default: the next layer of units) by the L2 norm of the expanded weights
from UNIT into them, as the browser's unit card does.
"""

from __future__ import annotations

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_model_arguments, add_outputs, add_thumbnail_argument, run_request
from circuitloupe.tasks.outputs import OutputsRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("unit", type=types.text, metavar="UNIT", help="e.g. mixed3a:147 or conv3:5")
    add_model_arguments(parser)
    parser.add_argument("--layer", type=types.text, default=None, metavar="LAYER", help="later layer to rank (default: the next one)")
    parser.add_argument("--top", type=types.integer(1, 512), default=10, help="how many units (default 10)")
    add_outputs(parser, "write the ranking as JSON (- for stdout)", "write the ranked units as a grid of feature visualisations")
    add_thumbnail_argument(parser)
    parser.set_defaults(run=run_request(OutputsRequest, needs_output=False))
