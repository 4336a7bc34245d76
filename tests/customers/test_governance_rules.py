"""Pure rules of master-data governance: duplicate scoring on pairs that are the same customer and on
pairs that are not, tax number compaction, and the survivorship decisions of a merge."""
from __future__ import annotations

import pytest

from o2c.core.errors import ValidationFailed
from o2c.customers.changes import normalise
from o2c.customers.duplicates import THRESHOLD, Record, compact_tax_id, normal_name, score
from o2c.customers.merge import decide, tax_id_valid

CHI = {"line1": "100 W Randolph St", "postal_code": "60601", "country": "US"}
BERLIN = {"line1": "Hauptstrasse 5", "postal_code": "10115", "country": "DE"}

SAME = [
    (Record.of("ACME Supply, Inc.", "DE 123 456 789", CHI),
     Record.of("Acme Supply Incorporated", "DE123456789", {"line1": "100 West Randolph Street",
                                                           "postal_code": "60601", "country": "US"})),
    (Record.of("Müller GmbH", None, {"line1": "Hauptstr. 5", "postal_code": "10115", "country": "DE"}),
     Record.of("Mueller G.m.b.H.", None, BERLIN)),
    (Record.of("Big Buy Ltd"), Record.of("Bigbuy Limited")),  # written together or apart, no address
    (Record.of("Traders Northwind", None, CHI), Record.of("Northwind Traders LLC", None, CHI)),  # word order
    (Record.of("Initech", "123456789", CHI), Record.of("Initech Holdings (old name)", "12-3456789", None)),
    (Record.of("Société Générale S.A.", None, {"line1": "29 Bd Haussmann", "postal_code": "75009", "country": "FR"}),
     Record.of("Societe Generale", None, {"line1": "29 Boulevard Haussmann", "postal_code": "75009",
                                          "country": "FR"})),
]
DIFFERENT = [
    # Two firms in one building: other names at the same address.
    (Record.of("Initech LLC", None, {"line1": "4120 Freidrich Ln", "postal_code": "78744", "country": "US"}),
     Record.of("Initrode LLC", None, {"line1": "4120 Freidrich Lane", "postal_code": "78744", "country": "US"})),
    # Same name, different registered numbers: two entities (a franchise, a namesake).
    (Record.of("Acme Supply", "111111111", CHI), Record.of("Acme Supply", "222222222", CHI)),
    # Same name in another country, no tax numbers: a namesake abroad.
    (Record.of("Globex Corporation", None, CHI),
     Record.of("Globex Corp", None, {"line1": "1 Rue de Rivoli", "postal_code": "75001", "country": "FR"})),
    (Record.of("Northwind Traders", None, CHI), Record.of("Southwind Logistics", None, CHI)),
    (Record.of("Umbrella Corp"), Record.of("Cyberdyne Systems")),
]


@pytest.mark.parametrize("a,b", SAME)
def test_pairs_of_the_same_customer_score_above_the_threshold(a, b):
    total, reasons = score(a, b)
    assert total >= THRESHOLD, (total, reasons)
    assert score(b, a)[0] == total  # symmetric
    assert set(reasons) == {"name", "address", "tax_id"} and all(r["reason"] for r in reasons.values())


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_pairs_of_different_customers_score_below_the_threshold(a, b):
    total, reasons = score(a, b)
    assert total < THRESHOLD, (total, reasons)


def test_each_attribute_says_why():
    total, reasons = score(*SAME[0])
    assert total == 100.0
    assert reasons["tax_id"] == {"result": "match", "reason": "same tax number (123456789)"}
    assert reasons["name"]["reason"] == "same name once legal forms and punctuation are dropped ('acme supply')"
    assert reasons["address"]["score"] == 100.0
    _, reasons = score(*DIFFERENT[1])
    assert reasons["tax_id"]["result"] == "conflict"
    _, reasons = score(*DIFFERENT[2])
    assert (reasons["address"]["score"], reasons["address"]["reason"]) == (0.0, "other country (US vs FR)")


def test_a_tax_number_match_outweighs_a_renamed_company():
    renamed = score(Record.of("Initech", "DE136695976"), Record.of("Penetrode Industries", "DE 136 695 976"))
    assert renamed[0] == 85.0 and renamed[1]["name"]["score"] < 60


def test_names_and_tax_numbers_are_compared_in_one_form():
    assert normal_name("The A.B.C. Company, Ltd.") == "abc"
    assert normal_name("GmbH & Co. KG") == "gmbh and co kg"  # nothing but legal forms: all kept
    assert compact_tax_id("DE 136.695.976") == compact_tax_id("136695976") == "136695976"
    assert compact_tax_id("12-3456789") == "123456789"
    assert compact_tax_id(None) == ""


def test_tax_numbers_are_validated_for_their_country():
    assert tax_id_valid("DE136695976", "DE") and tax_id_valid("136695976", "DE")
    assert not tax_id_valid("DE136695977", "DE")  # check digit
    assert tax_id_valid("04-2103594", "US")  # an EIN
    assert not tax_id_valid("DE136695976", None) and not tax_id_valid(None, "DE")


def _fields(**kw) -> dict:
    base = {"legal_name": None, "tax_id": None, "email": None, "phone": None, "registration_id": None,
            "endpoint": None, "parent_id": None, "trading_names": None, "compliance_hold": False}
    return base | kw


def test_survivorship_non_empty_beats_empty_and_the_survivor_wins_ties():
    s = _fields(legal_name="Acme Supply Inc.", phone="+13125550100", trading_names=["Acme"])
    m = _fields(legal_name="ACME SUPPLY", email="ap@acme.example", phone="+13125550199", compliance_hold=True,
                trading_names=["Acme Chicago", "Acme"])
    d = decide(s, m, False, False)
    assert (d["legal_name"]["value"], d["legal_name"]["from"]) == ("Acme Supply Inc.", "survivor")
    assert (d["email"]["value"], d["email"]["from"]) == ("ap@acme.example", "merged")
    assert (d["phone"]["value"], d["phone"]["from"]) == ("+13125550100", "survivor")
    assert d["trading_names"]["value"] == ["Acme", "Acme Chicago", "ACME SUPPLY"]
    assert (d["compliance_hold"]["value"], d["compliance_hold"]["rule"]) == (True, "any_held")


def test_survivorship_takes_the_name_of_the_record_with_a_valid_tax_number():
    s = _fields(legal_name="Acme Supply (typo'd)", tax_id="DE136695977")
    m = _fields(legal_name="Acme Supply GmbH", tax_id="DE136695976")
    d = decide(s, m, s_trusted=False, m_trusted=True)
    assert (d["legal_name"]["value"], d["legal_name"]["from"], d["legal_name"]["rule"]) == (
        "Acme Supply GmbH", "merged", "trusted_tax_id")
    assert d["tax_id"]["value"] == "DE136695976"
    # Both valid: the survivor wins; a choice overrides a rule.
    assert decide(s, m, True, True)["legal_name"]["from"] == "survivor"
    chosen = decide(s, m, True, True, {"legal_name": "merged"})["legal_name"]
    assert (chosen["value"], chosen["rule"]) == ("Acme Supply GmbH", "chosen")
    with pytest.raises(ValidationFailed) as e:
        decide(s, m, True, True, {"credit_limit": "merged"})  # a sensitive field is never chosen in a merge
    assert e.value.errors[0].field == "choices.credit_limit"


@pytest.mark.parametrize("field,value,error", [
    ("bank_account", {"iban": "DE89 3704 0044 0532 0130 01"}, "value.iban"),
    ("bank_account", {"iban": "DE89370400440532013000", "bic": "WESTGB22"}, "value.bic"),
    ("bank_account", {"action": "swap", "iban": "DE89370400440532013000"}, "value.action"),
    ("billing_address", {"name": "AP", "line1": "1 Main St", "city": "Chicago", "region": "IL",
                         "postal_code": "6060", "country": "US"}, "value.postal_code"),
    ("billing_address", {"name": "AP", "street": "1 Main St", "country": "US"}, "value.street"),
    ("payment_terms", {"payment_terms_days": 30, "early_discount_pct": "2", "early_discount_days": 45},
     "value.early_discount_days"),
    ("payment_terms", {"payment_terms_days": 400}, "value.payment_terms_days"),
    ("payment_terms", {"payment_terms_days": "thirty"}, "value.payment_terms_days"),
    ("credit_limit", {"credit_limit": "-1"}, "value.credit_limit"),
    ("credit_limit", {"credit_limit": "abc"}, "value.credit_limit"),
    ("credit_limit", {"credit_limit": "1.00001"}, "value.credit_limit"),
    ("legal_name", {"legal_name": "X"}, "field"),
])
def test_a_bad_new_value_is_refused_naming_its_part(field, value, error):
    with pytest.raises(ValidationFailed) as e:
        normalise(field, value)
    assert [x.field for x in e.value.errors][:1] == [error]


def test_new_values_are_stored_in_one_form():
    assert normalise("bank_account", {"iban": "de89-3704-0044-0532-0130-00", "bic": "cobadeffxxx"}) == {
        "action": "add", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX", "holder_name": None}
    assert normalise("credit_limit", {"credit_limit": "5000.00"}) == {"credit_limit": "5000"}
    assert normalise("credit_limit", {"credit_limit": None}) == {"credit_limit": None}
    assert normalise("payment_terms", {"payment_terms_days": 30, "early_discount_pct": "2.50",
                                       "early_discount_days": 10}) == {
        "payment_terms_days": 30, "early_discount_pct": "2.5", "early_discount_days": 10}
