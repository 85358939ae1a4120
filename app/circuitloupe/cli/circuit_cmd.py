"""circuitloupe circuit: circuit grid of expanded weights between two families, or one unit's circuit over layers.

SRC_UNITS DST_UNITS: the expanded weights from each earlier unit into each later one. UNIT --trace
LAYER1,LAYER2,...: the unit's strongest contributors (expanded-weight norm) in each layer, latest
first, drawn as a layered graph (edges red when excitatory, blue when inhibitory, wider when
stronger).
"""

from __future__ import annotations

from circuitloupe.cli import types
from circuitloupe.cli.common import (add_command, add_model_arguments, add_scale_argument, add_thumbnail_argument,
                                     run_request)
from circuitloupe.tasks import CircuitRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    add_model_arguments(parser)
    parser.add_argument("src_units", type=types.name_list, metavar="SRC_UNITS",
                        help="earlier units (columns), e.g. mixed3a:81,147,145,71; with --trace, the one unit")
    parser.add_argument("dst_units", type=types.name_list, nargs="?", metavar="DST_UNITS",
                        help="later units (rows), e.g. mixed3b:342,385,379,330")
    parser.add_argument("--trace", type=types.name_list, metavar="LAYER1,LAYER2,...",
                        help="trace the unit back through these layers, latest first (e.g. mixed4a,mixed3b,mixed3a)")
    parser.add_argument("--top", type=types.integer(1, 64), default=4, help="units kept per traced layer (default 4)")
    parser.add_argument("--among", type=types.name_list, metavar="UNITS",
                        help="with --trace: keep the layers these units belong to to them, e.g. an article's "
                             "circuit mixed4a:235,222,234,308")
    parser.add_argument("--out", type=types.output_file, help="output PNG")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="PATH",
                        help="the weights [rows, columns, kh, kw] as JSON (- for stdout)")
    parser.add_argument("--magnitude", action="store_true", help="show |w| in grey instead of red/blue")
    add_scale_argument(parser)
    add_thumbnail_argument(parser)
    parser.set_defaults(run=run_request(CircuitRequest))
