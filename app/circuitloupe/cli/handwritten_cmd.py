"""circuitloupe handwritten: write curve detectors by hand from an earlier layer and splice them into a copy.

Build --units curve detectors for LAYER by hand from --from EARLIER's oriented units (an arc
template on the kernel; see the README), put them in place of the model's units of the nearest
preferred orientation in a copy of the model (the weights file is never written), and report their
radial tuning beside the originals, their correlation with the originals over --images, and the
change of the logits.
"""

from __future__ import annotations

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_model_arguments, add_outputs, run_request
from circuitloupe.tasks.handwritten import HandwrittenRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("layer", type=types.text, metavar="LAYER", help="the layer to write units for, e.g. conv4 or mixed3b")
    add_model_arguments(parser)
    parser.add_argument("--from", dest="earlier", type=types.text, required=True, metavar="EARLIER", help="the earlier layer they read")
    parser.add_argument("--units", type=types.integer(1, 64), default=8, help="hand-made units, evenly around 360 degrees (default 8)")
    parser.add_argument("--min-selectivity", type=types.number(0.0, 0.99), default=0.2,
                        help="least orientation selectivity of an earlier unit to get weight (default 0.2)")
    parser.add_argument("--images", type=types.input_folder, default=None, metavar="DIR", help="folder for correlations and logit changes")
    add_outputs(parser, "write each hand-made unit's tuning as JSON (- for stdout)", "write the radial tuning figure")
    parser.set_defaults(run=run_request(HandwrittenRequest, unit="batch"))
