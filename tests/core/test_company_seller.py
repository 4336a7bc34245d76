"""The seller's details a company gives for its e-invoices: a VAT identifier is checked for its country
prefix (EN 16931 BR-CO-09) and by python-stdnum for that country, and stored in its electronic form."""
from __future__ import annotations

import pytest

from o2c.core.companies import vat_id_error


@pytest.mark.parametrize("given, stored", [
    ("DE 136 695 976", "DE136695976"),  # spaces people write are dropped
    ("fr40303265045", "FR40303265045"),
    ("EL094259216", "EL094259216"),  # Greece's VAT prefix is EL (BR-CO-09), checked as a Greek number
    ("GB980780684", "GB980780684"),
    ("XI980780684", "XI980780684"),  # Northern Ireland, checked as a UK number
    ("NO974760673MVA", "NO974760673MVA"),
    ("CHE-116.268.023 MWST", "CHE116268023MWST"),
    ("US 04-3456789", "US043456789"),  # no VAT in the US: the company's EIN
    ("KN12345", "KN12345"),  # a country stdnum has no module for: the prefix is all that is checked
])
def test_a_vat_identifier_of_its_country_is_kept_in_its_electronic_form(given, stored):
    assert vat_id_error(given) == (stored, None)


@pytest.mark.parametrize("given, why", [
    ("DE136695977", "not a valid DE VAT identifier (de.vat)"),  # check digit
    ("US00-0000000", "not a valid US VAT identifier (us.ein)"),  # no EIN starts with 00
    ("136695976", "must start with its two-letter country prefix"),
    ("ZZ123456", "must start with its two-letter country prefix"),
    ("DE", "has no number after its country prefix DE"),
])
def test_a_vat_identifier_that_is_not_one_is_refused_saying_why(given, why):
    stored, problem = vat_id_error(given)
    assert stored is None and why in problem
