#!/bin/sh
# The README's hue-rotation and scale-across-layers figures, written by the CLI on the hand-made
# models of docs/equivariance_models.py (their answers are known by construction). Run from anywhere:
#   sh docs/make_equivariance_figures.sh            (CIRCUITLOUPE="python -m circuitloupe" to use a checkout)
set -e
cd "$(dirname "$0")/.."
run=${CIRCUITLOUPE:-circuitloupe}
$run equivariance edges:0,1,2,3,4,5,6,7 --model docs/equivariance_models.py:colour_opponent_edges \
    --transform hue_rotation --steps 8,8 --out docs/images/hue_rotation_edges.png
$run equivariance small:0,medium:0,1,large:0 --model docs/equivariance_models.py:blob_pyramid \
    --transform scale --max-scale 8 --out docs/images/scale_across_layers.png
# A real network: the strongest hue chain that `--discover --transform hue --steps 4` finds in
# EfficientNet-Lite0's block2_expand, under hue and rotation jointly (about 3 minutes on a CPU).
$run equivariance block2_expand:90,26,17,58 --model efficientnet_lite0 --transform hue_rotation --steps 4,4 \
    --out docs/images/hue_rotation_lite0.png
