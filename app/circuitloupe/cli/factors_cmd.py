"""circuitloupe factors: NMF factors of a layer's activations over a folder, and circuits between factors.

Factorise LAYER's (non-negative) activations over the images of DIR into K directions (scikit-learn
NMF), each with its feature visualisation (direction objective) and top examples; with --to LAYER2,
also LAYER2's factors and the expanded weights between the two sets of factors.
"""

from __future__ import annotations

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_model_arguments, add_outputs, run_request
from circuitloupe.tasks.factors import FactorsRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("layer", type=types.text, metavar="LAYER", help="layer to factorise, e.g. mixed3a or conv3")
    parser.add_argument("folder", type=types.input_folder, metavar="DIR", help="folder of images")
    add_model_arguments(parser)
    parser.add_argument("--k", type=types.integer(1, 64), default=6, help="number of factors (default 6)")
    parser.add_argument("--to", type=types.text, default=None, metavar="LAYER2", help="a later layer: factor circuit into its factors")
    parser.add_argument("--seed", type=types.SEED, default=0, help="seed for sampling, NMF and rendering (default 0)")
    parser.add_argument("--steps", type=types.integer(0, 10_000), default=128, help="feature-visualisation steps (default 128)")
    parser.add_argument("--size", type=types.integer(16, 512), default=64, help="feature-visualisation size in px (default 64)")
    parser.add_argument("--examples", type=types.integer(1, 32), default=6, help="top examples per factor (default 6)")
    parser.add_argument("--compare-transpose", type=types.name_list, default=None, metavar="LAYER3,LAYER4",
                        help="also the factor circuit LAYER3 -> LAYER4, scored against the transpose of LAYER -> LAYER2")
    add_outputs(parser, "write channel weights, variance explained, examples (- for stdout)", "write the factors figure")
    parser.set_defaults(run=run_request(FactorsRequest, unit="batch"))
