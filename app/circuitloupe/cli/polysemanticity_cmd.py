"""circuitloupe polysemanticity: score how polysemantic a unit is (diverse feature visualisations, example clusters).

Two scores in [0, 1]: the mean pairwise cosine distance of the unit's diverse feature visualisations
in its layer (its own channel left out), and with --images the best silhouette of k-means clusters
(k = 2-4) of its top examples' channel vectors. The figure shows the visualisations and one row of
examples per cluster.
"""

from __future__ import annotations

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_model_arguments, add_outputs, run_request
from circuitloupe.tasks.polysemanticity import PolysemanticityRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("unit", type=types.text, metavar="UNIT", help="e.g. mixed4e:55 or conv4:26")
    add_model_arguments(parser)
    parser.add_argument("--images", type=types.input_folder, metavar="DIR", help="folder for the top examples")
    parser.add_argument("--diverse", type=types.integer(2, 16), default=4, help="diverse visualisations (default 4)")
    parser.add_argument("--examples", type=types.integer(4, 500), default=24, help="top examples (default 24)")
    parser.add_argument("--size", type=types.integer(16, 512), default=64, help="visualisation size in px (default 64)")
    parser.add_argument("--steps", type=types.integer(0, 10_000), default=128, help="visualisation steps (default 128)")
    add_outputs(parser, "write the scores and clusters as JSON", "write the figure")
    parser.set_defaults(run=run_request(PolysemanticityRequest))
