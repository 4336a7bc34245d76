"""Ship-to and billing addresses: complete, and a postal code valid for the country."""
import pytest

from o2c.customers.rules import Address, address_errors

GOOD = {
    "US": Address("Ann", "100 W Randolph St", None, "Chicago", "IL", "60601", "US"),
    "GB": Address("Bob", "10 Downing St", None, "London", None, "SW1A 2AA", "GB"),
    "DE": Address("Cem", "Unter den Linden 1", None, "Berlin", None, "10117", "DE"),
    "JP": Address("Dai", "1-1 Chiyoda", None, "Chiyoda-ku", "Tokyo", "100-0001", "JP"),
}


@pytest.mark.parametrize("country", sorted(GOOD))
def test_valid_addresses_pass(country):
    assert address_errors(GOOD[country], "ship_to") == ()


@pytest.mark.parametrize("country,postal", [("US", "6060"), ("GB", "XXXX"), ("DE", "1011"), ("JP", "1000001x")])
def test_a_postal_code_of_the_wrong_shape_is_named(country, postal):
    a = GOOD[country]
    errors = address_errors(Address(a.name, a.line1, a.line2, a.city, a.region, postal, a.country), "ship_to")
    assert [(e.field, e.code) for e in errors] == [("ship_to.postal_code", "invalid")]
    assert postal in errors[0].message


def test_missing_parts_are_each_named():
    errors = address_errors(Address(None, "", None, "", None, "", "FR"), "ship_to")
    assert {e.field for e in errors} == {"ship_to.name", "ship_to.line1", "ship_to.city", "ship_to.postal_code"}


def test_country_must_be_iso_3166():
    assert [e.code for e in address_errors(Address("a", "b", None, "c", None, "1", "XX"), "x")] == ["invalid"]
    assert [e.field for e in address_errors(Address("a", "b"), "x")] == ["x.country"]
