"""The Weights pane's Trace tab: the current unit's circuit over several earlier layers, the
layered graph ``circuitloupe circuit UNIT --trace LAYER1,LAYER2,... --top N`` writes, and the
model's multi-layer circuits from the articles as presets."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QComboBox, QLineEdit

from circuitloupe.core.circuit_trace import default_layers
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.tasks import CircuitRequest
from circuitloupe.tasks.circuit import compact_units
from circuitloupe.ui.panes.weights_tabs import WeightsTab
from circuitloupe.ui.widgets.controls import spin_box

NO_PRESET = "article circuits…"


class TraceTab(WeightsTab):
    key, label = "trace", "Trace"
    hint = "Pick a unit to trace its strongest contributors back over earlier layers."

    def build(self) -> None:
        self.unit_label("The circuit ends at the current unit (pick one anywhere in the app)")
        self.back = spin_box(1, 6, 2, "How many layers back to trace: fills the layers with the ones the articles "
                                      "would expand from (mixed4b -> mixed4a -> mixed3b)")
        self.back.valueChanged.connect(self._fill_layers)
        self.layers = QLineEdit()
        self.layers.setToolTip("Layers to trace through, latest first (comma-separated; Enter to draw)")
        self.layers.returnPressed.connect(self.changed)
        self.top = spin_box(1, 64, 4, "Units kept in each layer: the strongest contributors by expanded-weight norm")
        self.top.valueChanged.connect(lambda _: self.changed())
        self.among = QLineEdit()
        self.among.setPlaceholderText("any units")
        self.among.setToolTip("Keep the layers these units belong to to them (an article's circuit), e.g. "
                              "mixed4a:235,222,234,308; empty: the strongest of all (Enter to draw)")
        self.among.returnPressed.connect(self.changed)
        self.presets = QComboBox()
        self.presets.setToolTip("Multi-layer circuits from the Circuits articles (unit ids as published)")
        self.presets.activated.connect(lambda index: index > 0 and self.apply_preset(self.presets.itemText(index)))
        self.add_row(self.target, "back", self.back, "layers", self.layers, "top", self.top, stretch=self.layers)
        self.add_row("only", self.among, self.presets, stretch=self.among)

    def on_model(self, model) -> None:
        self.presets.clear()
        self.presets.addItem(NO_PRESET)
        self.presets.addItems(list(model.trace_presets))
        self.presets.setVisible(bool(model.trace_presets))

    def on_unit(self, unit: UnitRef) -> None:
        super().on_unit(unit)
        self.among.clear()  # an article's units belong to its own target
        self._fill_layers()

    def _fill_layers(self) -> None:
        unit = self.state.unit
        if unit is None or self.state.model is None:
            return
        self.layers.setText(",".join(default_layers(self.state.model, unit.layer, self.back.value())))
        self.changed()

    def apply_preset(self, name: str) -> None:
        """Open the model's preset circuit ``name``: its target unit, layers and units."""
        preset = self.state.model.trace_presets[name]
        self.state.set_unit(preset.target)
        units = parse_unit_list(preset.units)
        self.back.blockSignals(True)
        self.back.setValue(len(preset.layers))
        self.back.blockSignals(False)
        self.layers.setText(",".join(preset.layers))
        self.among.setText(compact_units(preset.units))
        self.top.blockSignals(True)
        self.top.setValue(max(sum(u.layer == layer for u in units) for layer in preset.layers))
        self.top.blockSignals(False)
        self.pane.info.setText(self._source())
        self.changed()

    def _source(self) -> str:
        """The article preset the controls show, with its source ("" when they show none)."""
        for name, preset in self.state.model.trace_presets.items():
            if (str(self.state.unit), self.layers.text(), self.among.text()) == \
                    (preset.target, ",".join(preset.layers), compact_units(preset.units)):
                return f"{name}, from {preset.source}"
        return ""

    def request(self) -> CircuitRequest | None:
        layers = tuple(name for name in re.split(r"[,\s]+", self.layers.text()) if name)
        if self.state.unit is None or not layers:
            self.view.set_image(None, "This unit has no earlier layer to trace." if self.state.unit else None)
            return None
        return CircuitRequest(str(self.state.unit), trace=layers, top=self.top.value(),
                              among=self.among.text().strip() or ())

    def summary(self, result) -> str:
        source = self._source()
        return ("; ".join(result.lines()) + " (edges red: excitatory, blue: inhibitory, wider: stronger)"
                + (f". {source}" if source else ""))

    def units(self) -> list[UnitRef]:
        return [] if self.result is None else [u for level in self.result.trace.levels for u in level]
