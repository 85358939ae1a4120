"""RequestForm: a Request type's fields become controls with the CLI's ranges; the form builds the
Request, shows a validation error in one line, and fills itself from a Request."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QLineEdit, QSpinBox

from circuitloupe.tasks import AblateRequest, FactorsRequest, OutputsRequest
from circuitloupe.ui.widgets.request_form import RequestForm, request_from_argv


def test_controls_follow_the_field_types_and_the_cli(qtbot):
    form = RequestForm(FactorsRequest)
    qtbot.addWidget(form)
    assert list(form.controls)[:2] == ["layer", "folder"]  # positional fields first
    assert isinstance(form.controls["layer"], QLineEdit) and isinstance(form.controls["k"], QSpinBox)
    k = form.controls["k"]
    assert (k.minimum(), k.maximum(), k.value()) == (1, 64, 6)  # the range of `factors --k`
    assert k.toolTip().startswith("--k K") and "number of factors" in k.toolTip()
    outputs = RequestForm(OutputsRequest)
    qtbot.addWidget(outputs)
    assert isinstance(outputs.controls["render_thumbnails"], QCheckBox)
    assert outputs.controls["render_thumbnails"].toolTip().startswith("--render-thumbnails")
    ablate = RequestForm(AblateRequest)
    qtbot.addWidget(ablate)
    assert isinstance(ablate.controls["scale"], QDoubleSpinBox)
    assert ablate.controls["scale"].minimum() == -1000.0


def test_request_is_built_and_errors_are_one_line(qtbot, tmp_path):
    form = RequestForm(AblateRequest)
    qtbot.addWidget(form)
    form.show()
    form.set_values({"edits": ("conv4:3,5", "conv3:1->conv4:2"), "images": str(tmp_path), "scale": 0.5})
    assert form.controls["edits"].text() == "conv4:3,5 conv3:1->conv4:2"  # separate arguments, as in a shell
    assert form.request() == AblateRequest(edits=("conv4:3", "conv4:5", "conv3:1->conv4:2"), images=str(tmp_path),
                                           scale=0.5)
    assert not form.error.isVisible()
    form.set_values({"images": ""})
    assert form.request() is None
    assert form.error.isVisible() and "--images" in form.error.text() and "\n" not in form.error.text()
    assert form.request(quiet=True) is None


def test_set_request_fills_the_form_and_argv_round_trips(qtbot, tmp_path):
    request = FactorsRequest(layer="conv3", folder=str(tmp_path), k=3, to="conv4", steps=8, size=32)
    form = RequestForm(FactorsRequest)
    qtbot.addWidget(form)
    form.set_request(request)
    assert form.controls["to"].text() == "conv4" and form.request() == request
    assert request_from_argv(FactorsRequest, request.to_argv()) == request
