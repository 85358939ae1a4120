"""circuitloupe ablate: zero or scale units or edges and measure the change of every logit.

Edit a copy of the model (the weights file is never written): multiply units (LAYER:i[,j...]) or
single edges (LAYER:i->LAYER2:j, one convolution's weights) by --scale (0 ablates), then report each
logit's change over the images of --images (mean and largest), the top-1 accuracy where class sub-
folders name the classes (285 or Egyptian_cat), and a family's radial tuning before and after
(--family).
"""

from __future__ import annotations

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_model_arguments, add_outputs, run_request
from circuitloupe.tasks.ablate import AblateRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("edits", type=types.name_list, nargs="+", metavar="EDIT", help="units (mixed3b:379,385) or edges (conv3:5->conv4:12)")
    add_model_arguments(parser)
    parser.add_argument("--images", type=types.input_folder, required=True, metavar="DIR", help="folder of images (class sub-folders optional)")
    parser.add_argument("--scale", type=types.number(-1000.0, 1000.0), default=0.0, help="factor for the edited units/edges (default 0)")
    parser.add_argument("--family", type=types.text, default=None, metavar="NAME", help="a family of the model whose tuning to compare")
    parser.add_argument("--batch-size", type=types.BATCH, default=16, help="images per batch (default 16)")
    add_outputs(parser, "write the changes as JSON (- for stdout)", "write a bar chart of the most changed classes",
                scale=False)  # --scale is the edit's factor here
    parser.set_defaults(run=run_request(AblateRequest, unit="batch", scale=1.0))
