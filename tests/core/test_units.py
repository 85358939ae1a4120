import pytest

from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef, parse_unit_list


def test_parse_and_print_roundtrip():
    unit = UnitRef.parse("mixed3b:379")
    assert unit == UnitRef("mixed3b", 379)
    assert str(unit) == "mixed3b:379"


def test_pre_relu_names():
    unit = UnitRef("mixed3b", 379)
    assert unit.pre_relu() == UnitRef("mixed3b_pre_relu", 379)
    assert unit.pre_relu().is_pre_relu and unit.pre_relu().post_relu() == unit


@pytest.mark.parametrize("text", ["mixed3b", "mixed3b:", ":12", "mixed3b:-1", "mixed3b:x"])
def test_bad_unit_names_are_readable_errors(text):
    with pytest.raises(UserError, match="layer:channel"):
        UnitRef.parse(text)


def test_unit_lists_share_a_layer():
    assert parse_unit_list("mixed3a:81,147,145,71") == [UnitRef("mixed3a", c) for c in (81, 147, 145, 71)]
    assert parse_unit_list("mixed3a:81 mixed3b:379,385") == [
        UnitRef("mixed3a", 81), UnitRef("mixed3b", 379), UnitRef("mixed3b", 385)]


def test_catalogue_resolves_alias_and_branch(inception):
    catalogue = inception.catalogue
    assert catalogue.unit("3b:379") == UnitRef("mixed3b", 379)
    assert catalogue.branch_of("mixed3b:379") == UnitRef("mixed3b_5x5", 59)
    assert catalogue.branch_of("mixed3b:0") == UnitRef("mixed3b_1x1", 0)
    assert catalogue.branch_of("mixed3b:479") == UnitRef("mixed3b_pool_reduce", 63)
    assert catalogue.branch_of("mixed3b_pre_relu:379") == UnitRef("mixed3b_5x5_pre_relu", 59)
    assert catalogue.canonical("3b_5x5") == "mixed3b_5x5"


def test_catalogue_rejects_wrong_units_clearly(inception):
    catalogue = inception.catalogue
    with pytest.raises(UserError, match="channels 0..479"):
        catalogue.unit("mixed3b:480")
    with pytest.raises(UserError, match="did you mean mixed3b"):
        catalogue.unit("mixed3bb:1")
