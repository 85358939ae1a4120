"""Circuit editing: zero or scale units and single edges in a copy of a model.

An edit is a unit (``mixed3b:379``: every position of that channel is multiplied by ``scale``,
0 = ablated) or an edge (``conv3:5->conv4:12``: the weights by which channel 5 of ``conv3`` feeds
channel 12 of ``conv4`` are multiplied by ``scale``). An edge needs one convolution (or linear
layer) that reads the first layer's output directly and computes the second layer's channel; it
is found by probing, so no model needs to describe its wiring. :func:`edited_copy` applies edits
to a deep copy of the network: the loaded model and its weights file are never changed.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from typing import Sequence

import torch
from torch import nn

from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

_EDGE = re.compile(r"^\s*([^\s>]+:\d+)\s*->\s*([^\s>]+:\d+)\s*$")


@dataclass(frozen=True)
class UnitEdit:
    unit: UnitRef
    scale: float = 0.0

    def __str__(self) -> str:
        return str(self.unit)


@dataclass(frozen=True)
class EdgeEdit:
    src: UnitRef
    dst: UnitRef
    scale: float = 0.0

    def __str__(self) -> str:
        return f"{self.src}->{self.dst}"


Edit = UnitEdit | EdgeEdit


def parse_edits(model: LoadedModel, texts: Sequence[str], scale: float = 0.0) -> list[Edit]:
    """``["mixed3b:379", "conv3:5->conv4:12"]`` -> edits, units checked against the model."""
    catalogue = model.catalogue
    edits: list[Edit] = []
    for text in texts:
        edge = _EDGE.match(text)
        if edge:
            src, dst = (catalogue.unit(UnitRef.parse(part)) for part in edge.groups())
            if catalogue.position(src.layer) >= catalogue.position(dst.layer):
                raise UserError(f"{text}: an edge runs from an earlier layer to a later one")
            edits.append(EdgeEdit(src, dst, scale))
        elif "->" in text:
            raise UserError(f"'{text}' is not an edge; write LAYER:i->LAYER2:j")
        else:
            edits.append(UnitEdit(catalogue.unit(UnitRef.parse(text)), scale))
    if not edits:
        raise UserError("no edits given; name units (mixed3b:379) or edges (conv3:5->conv4:12)")
    return edits


@dataclass
class EdgeWeights:
    """The weighted module that carries an edge, and the edge's input and output channel in it."""

    module: nn.Module
    in_index: int
    out_index: int


#: In the weights id of an edited copy, before what was edited.
EDITED_MARK = ";edited:"


def is_edited(weights_id: str) -> bool:
    """Whether a model (or a result, by its ``weights_id``) is an edited copy: no command line
    reproduces it."""
    return EDITED_MARK in weights_id


def model_copy(model: LoadedModel, description: str, edits: str) -> LoadedModel:
    """A deep copy of ``model`` (its own network and hook points) to edit; ``description`` is
    added to its weights description and ``edits`` to its weights id, so caches (feature
    visualisations, thumbnails) never mix the copy's pictures with the original's."""
    net = copy.deepcopy(model.net)
    names = {module: name for name, module in model.net.named_modules()}
    points = {layer: net.get_submodule(names[module]) for layer, module in model.hook_points.items()}
    edited = replace(model, net=net, hook_points=points, extras={**model.extras},
                     weights_id=model.weights_id + EDITED_MARK + edits,
                     weights_description=f"{model.weights_description}, {description}")
    edited.__dict__["catalogue"] = model.catalogue  # same layers and shapes; no new probe pass
    return edited


def edited_copy(model: LoadedModel, edits: Sequence[Edit]) -> LoadedModel:
    """A copy of ``model`` with ``edits`` in force (hooks for units, weight changes for edges)."""
    edited = model_copy(model, f"edited: {', '.join(map(str, edits))}", ",".join(f"{e}x{e.scale:g}" for e in edits))
    for edit in edits:
        if isinstance(edit, UnitEdit):
            _scale_channel(edited.hook_points[edit.unit.layer], edit.unit.channel, edit.scale)
        else:
            probe = find_edge(edited, edit)
            with torch.no_grad():
                probe.module.weight[probe.out_index, probe.in_index] *= edit.scale
    return edited


def _scale_channel(module: nn.Module, channel: int, scale: float) -> None:
    def hook(_module, _inputs, output):
        output = output.clone()
        output[:, channel] *= scale
        return output

    module.register_forward_hook(hook)


def find_edge(model: LoadedModel, edge: EdgeEdit) -> EdgeWeights:
    """Probe the network: find the conv / linear layer that receives ``edge.src``'s channel as one
    input channel (through channel-wise steps such as pooling or concatenation) and whose output
    channel drives ``edge.dst``'s channel alone; its weight between the two is the edge."""
    probe = torch.rand(1, model.in_channels, *model.input_size, generator=torch.Generator().manual_seed(0))
    weighted = [m for m in model.net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    plain = _module_inputs(model, weighted, probe, edge.dst.layer)
    pushed = _module_inputs(model, weighted, probe, edge.dst.layer, push=(edge.src, 100.0))
    baseline = _layer_output(model, probe, edge.dst.layer)
    # A concatenated layer's channel is computed as its branch's channel.
    out_indices = dict.fromkeys([edge.dst.channel, model.catalogue.branch_of(edge.dst).channel])
    for module in weighted:
        if module not in plain or module not in pushed:
            continue
        difference = (pushed[module] - plain[module]).reshape(*plain[module].shape[:2], -1).abs().amax(dim=2)[0]
        changed = torch.nonzero(difference).flatten().tolist()
        if len(changed) != 1:
            continue
        groups = getattr(module, "groups", 1)
        out_channels, in_per_group = module.weight.shape[:2]
        for out_index in out_indices:
            group = out_index // (out_channels // groups) if out_index < out_channels else -1
            in_index = changed[0] - group * in_per_group
            if group >= 0 and 0 <= in_index < in_per_group and \
                    _drives_only(model, module, out_index, edge.dst, probe, baseline):
                return EdgeWeights(module, in_index, out_index)
    raise UserError(f"no single convolution carries {edge.src} to {edge.dst}; an edge is one layer's weights "
                    "between adjacent layers (ablate the unit instead)")


def _module_inputs(model: LoadedModel, modules: Sequence[nn.Module], images: torch.Tensor, last_layer: str,
                   push: tuple[UnitRef, float] | None = None) -> dict[nn.Module, torch.Tensor]:
    """Each module's input on ``images`` (up to ``last_layer``), optionally with one unit pushed up."""
    inputs: dict[nn.Module, torch.Tensor] = {}

    def record(module, args, _output):
        if args and isinstance(args[0], torch.Tensor):
            inputs[module] = args[0].detach().clone()

    handles = [m.register_forward_hook(record) for m in modules]
    if push is not None:
        unit, amount = push

        def shift(_module, _inputs, output):
            output = output.clone()
            output[:, unit.channel] += amount
            return output

        handles.append(model.hook_points[unit.layer].register_forward_hook(shift))
    try:
        _layer_output(model, images, last_layer)
    finally:
        for handle in handles:
            handle.remove()
    return inputs


def _layer_output(model: LoadedModel, images: torch.Tensor, layer: str) -> torch.Tensor:
    from circuitloupe.core.activations import forward_until

    return forward_until(model, images, [layer])[layer]


def _drives_only(model: LoadedModel, module: nn.Module, out_index: int, dst: UnitRef, probe: torch.Tensor,
                 baseline: torch.Tensor) -> bool:
    """Whether pushing ``module``'s output channel up and down changes ``dst``'s channel and no
    other (both ways, so a ReLU after a negative batch-norm scale cannot hide the change)."""
    changed = torch.zeros(baseline.shape[1])
    for push in (100.0, -100.0):
        def perturb(_module, _inputs, output, push: float = push):
            output = output.clone()
            output[:, out_index] += push
            return output

        handle = module.register_forward_hook(perturb)
        try:
            difference = (_layer_output(model, probe, dst.layer) - baseline).reshape(*baseline.shape[:2], -1)
        finally:
            handle.remove()
        changed = torch.maximum(changed, difference.abs().amax(dim=2)[0].cpu())
    others = torch.cat([changed[:dst.channel], changed[dst.channel + 1:]])
    return bool(changed[dst.channel] > 0) and bool((others == 0).all())


@dataclass
class AblationReport:
    """Logit changes (ablated minus original) per class over a folder's images."""

    edits: list[str]
    files: list[str]
    logit_change_mean: list[float]
    logit_change_max: list[float]  # largest absolute change, with its sign
    accuracy: dict[str, float] | None = None  # top-1, original and ablated, over labelled images
    labelled: int = 0
    family: dict[str, list[dict]] = field(default_factory=dict)  # radial tuning before and after


def class_index(folder_name: str, class_labels: Sequence[str] | None) -> int | None:
    """A class sub-folder's class: its number (``285``) or its label (``Egyptian cat``,
    ``egyptian_cat``), or None."""
    if folder_name.isdigit():
        return int(folder_name)
    if class_labels:
        wanted = folder_name.replace("_", " ").casefold()
        for index, label in enumerate(class_labels):
            if label.casefold() == wanted:
                return index
    return None


def ablation_report(model: LoadedModel, edits: Sequence[Edit], folder: str, batch_size: int = 16,
                    family: Sequence[UnitRef] = (), orientations: int = 72, progress=None,
                    should_stop=None) -> AblationReport:
    """Run every image of ``folder`` through ``model`` and its edited copy; compare the logits
    (per class: mean over images, and the largest change), top-1 accuracy where class
    sub-folders name the classes, and the radial tuning of ``family`` before and after."""
    from pathlib import Path

    import numpy as np

    from circuitloupe.core.dataset.folder import readable_batches, walk_folder
    from circuitloupe.core.images import to_batch

    edited = edited_copy(model, edits)
    listing = walk_folder(folder)
    files = [entry.relpath for entry in listing.images]
    if not files:
        raise UserError(f"{folder} holds no images")
    changes, labels, hits_before, hits_after, used = [], [], 0, 0, []
    total = -(-len(files) // batch_size)
    for step, names, arrays in readable_batches(folder, files, batch_size, model.in_channels, should_stop):
        used += names
        batch = to_batch(arrays, model.input_size).to(model.device)
        with torch.no_grad():
            before = model.forward(batch).flatten(1).cpu().double()
            after = edited.forward(batch).flatten(1).cpu().double()
        changes.append((after - before).numpy())
        for relpath, b, a in zip(names, before, after):
            parts = Path(relpath).parts
            label = class_index(parts[0], model.class_labels) if len(parts) > 1 else None
            if label is not None:
                labels.append(label)
                hits_before += int(b.argmax()) == label
                hits_after += int(a.argmax()) == label
        if progress is not None:
            progress(step + 1, total + (1 if family else 0))
    delta = np.concatenate(changes)
    largest = delta[np.abs(delta).argmax(axis=0), np.arange(delta.shape[1])]
    accuracy = ({"original": hits_before / len(labels), "ablated": hits_after / len(labels)} if labels else None)
    report = AblationReport([str(e) for e in edits], used, delta.mean(axis=0).tolist(), largest.tolist(),
                            accuracy, len(labels))
    if family:
        from circuitloupe.core.tuning import family_radial_tuning

        units = [model.catalogue.unit(u) for u in family]
        pairs = zip(family_radial_tuning(model, units, orientations=orientations, should_stop=should_stop),
                    family_radial_tuning(edited, units, orientations=orientations, should_stop=should_stop))
        report.family = {"units": [{"unit": o.unit, "preferred_original": o.preferred, "preferred_ablated": e.preferred,
                                    "peak_original": o.peak, "peak_ablated": e.peak,
                                    "selectivity_original": o.selectivity, "selectivity_ablated": e.selectivity}
                                   for o, e in pairs]}
        if progress is not None:
            progress(total + 1, total + 1)
    return report
