"""The unit grid survives its thumbnails being cleared and its units replaced while it fills."""

from __future__ import annotations

from circuitloupe.core.units import UnitRef
from circuitloupe.ui.widgets.unit_grid import UnitGrid


def test_selecting_after_clearing_thumbnails_does_not_crash(qtbot):
    """Browser._on_model clears thumbnails and then selects the unit: this used to SIGSEGV in
    setCurrentIndex (a bare layoutChanged left the view's current index dangling)."""
    grid = UnitGrid()
    qtbot.addWidget(grid)
    grid.resize(500, 300)
    grid.show()
    units = [UnitRef("mixed3b", c) for c in range(480)]
    grid.units.set_units(units)
    assert grid.select_unit(units[5])
    for channel in (300, 7, 479):
        grid.units.clear_thumbnails()
        assert grid.select_unit(units[channel])
        assert grid.current_unit() == units[channel]


def test_units_replaced_while_the_grid_lays_out(qtbot):
    grid = UnitGrid()
    qtbot.addWidget(grid)
    grid.resize(500, 300)
    grid.show()
    for n in (832, 40, 1000):
        units = [UnitRef(f"layer{n}", c) for c in range(n)]
        grid.units.set_units(units)
        grid.units.clear_thumbnails()
        assert grid.select_unit(units[n // 2])
        qtbot.wait(1)
    assert grid.current_unit() == UnitRef("layer1000", 500)
