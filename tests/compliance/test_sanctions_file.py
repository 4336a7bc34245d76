"""Reading the OFAC SDN legacy delimited files: the real extract and 2019 snapshot, and broken rows named."""
from pathlib import Path

import pytest

from o2c.compliance.sanctions import (
    SanctionsFileError, build, country_key, load_sdn, read_add, read_alt, read_comments, read_sdn,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sanctions"
SUBSET = FIXTURES / "ofac-sdn-subset"
FULL = FIXTURES / "ofac-sdn-full"


def text(name: str) -> str:
    return (SUBSET / name).read_text(encoding="utf-8")


def test_sdn_rows_of_the_extract_with_types_programs_and_nulls():
    rows = read_sdn(text("sdn.csv"))
    assert len(rows) == 17
    assert [line for line, _ in rows] == list(range(1, 18))
    entries = {e.uid: e for _, e in rows}
    types = [e.type for e in entries.values()]
    assert (types.count("entity"), types.count("individual"), types.count("vessel"), types.count("aircraft")) == (7, 4, 4, 2)
    iran = entries[11195]
    assert iran.name == "IRAN AIRCRAFT MANUFACTURING INDUSTRIAL COMPANY"
    assert iran.type == "entity"  # SDN_Type -0-
    assert iran.programs == ("NPWMD", "IFSR", "IRAN-CON-ARMS-EO")
    assert iran.title is None
    morey = entries[10278]
    assert (morey.name, morey.type, morey.programs) == ("LOGAN MOREY, Elvis Angus", "individual", ("SDNT",))
    assert morey.remarks.startswith("DOB 28 Jul 1963; POB Toledo District, Belize")
    assert entries[20540].type == "aircraft" and entries[40716].type == "vessel"


def test_addresses_of_the_extract():
    rows = read_add(text("add.csv"))
    assert len(rows) == 28
    line, ent, first = rows[0]
    assert (line, ent, first.uid, first.address, first.city, first.country) == (1, 10278, 13948, None, None, None)
    _, ent, tehran = rows[2]
    assert (ent, tehran.uid, tehran.city, tehran.country) == (11195, 16311, "Tehran 15946", "Iran")
    assert tehran.address == "P.O. Box 14155-5568, No. 27 Shahamat Ave, Vallie Asr Sqr"


def test_aliases_of_the_extract():
    rows = read_alt(text("alt.csv"))
    assert len(rows) == 18
    line, ent, alias = rows[1]
    assert (line, ent, alias.uid, alias.kind, alias.name, alias.remarks) == (2, 11195, 11591, "aka", "HESA TRADE CENTER", None)


def test_remarks_spill_over_is_appended_to_the_entry():
    rows = read_comments(text("sdn_comments.csv"))
    assert [(line, ent) for line, ent, _ in rows] == [(1, 33151)]
    sanctions = load_sdn(SUBSET)
    remarks = sanctions.entries[33151].remarks
    assert remarks.endswith("a.k.a. 'SUCCESSFUL EXCHANGE'.")
    assert len(remarks) > 1000


def test_the_extract_assembled_and_rows_for_missing_entries_kept_aside():
    sanctions = load_sdn(SUBSET)
    assert len(sanctions.entries) == 17
    assert sanctions.alias_count == 13 and sanctions.address_count == 24
    # The extract carries 5 aliases and 4 addresses of entries it does not include.
    assert sorted((o.file, o.line) for o in sanctions.orphans) == [
        ("add.csv", 12), ("add.csv", 17), ("add.csv", 24), ("add.csv", 26),
        ("alt.csv", 1), ("alt.csv", 6), ("alt.csv", 10), ("alt.csv", 11), ("alt.csv", 15)]
    iran = sanctions.entries[11195]
    assert [a.name for a in iran.aliases][:2] == ["HESA TRADE CENTER", "IRAN AIRCRAFT MANUFACTURING INDUSTRIES"]
    assert len(iran.addresses) == 5 and iran.countries == {"IR"}


def test_the_full_2019_snapshot():
    sanctions = load_sdn(FULL)
    assert len(sanctions.entries) == 7379
    # Every row of alt.csv and add.csv belongs to an entry (the last row of each has no line end).
    assert sanctions.alias_count == 9682 and sanctions.address_count == 11696
    assert {o.file for o in sanctions.orphans} == {"sdn_comments.csv"}
    types = [e.type for e in sanctions.entries.values()]
    assert (types.count("individual"), types.count("entity"), types.count("vessel"), types.count("aircraft")) == (3845, 2994, 323, 217)
    assert len(sanctions.entries[36].aliases) >= 1 and sanctions.entries[36].countries == {"CU"}


def test_ofac_country_spellings_become_iso_codes():
    assert [country_key(c) for c in ("Iran", "Korea, North", "Burma", "Russia", "IR", "irn", "-0-", None)] == [
        "IR", "KP", "MM", "RU", "IR", "IR", None, None]


SDN_OK = '10278,"LOGAN MOREY, Elvis Angus","individual","SDNT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'


@pytest.mark.parametrize("file,content,line,reason", [
    ("sdn.csv", SDN_OK + '11195,"IRAN AIRCRAFT",-0- ,"NPWMD",-0- ,-0- \r\n', 2, "6 fields, expected 12"),
    ("sdn.csv", SDN_OK + SDN_OK.replace("10278", "X1"), 2, "ent_num 'X1' is not a number"),
    ("sdn.csv", SDN_OK + SDN_OK, 2, "ent_num 10278 repeats line 1"),
    ("sdn.csv", SDN_OK + SDN_OK.replace("10278", "1").replace('"individual"', '"person"'), 2, "SDN_Type 'person'"),
    ("sdn.csv", SDN_OK + SDN_OK.replace("10278", "2").replace('"LOGAN MOREY, Elvis Angus"', "-0- "), 2, "SDN_Name is empty"),
    ("add.csv", '10278,13948,-0- ,-0- ,-0- ,-0- \r\n10278,1394x,-0- ,-0- ,-0- ,-0- \r\n', 2, "Add_num '1394x' is not a number"),
    ("alt.csv", '10278,1,"aka","A",-0- \r\n10278,2,"aka","B",-0- \r\n10278,3,"also","C",-0- \r\n', 3, "alt_type 'also'"),
    ("alt.csv", '10278,1,"aka","A \r\nB",-0- \r\n10278,2,"aka",-0- \r\n', 3, "4 fields, expected 5"),
])
def test_a_broken_row_is_refused_with_its_file_line_and_reason(tmp_path, file, content, line, reason):
    (tmp_path / "sdn.csv").write_text(SDN_OK if file != "sdn.csv" else content, encoding="utf-8", newline="")
    if file != "sdn.csv":
        (tmp_path / file).write_text(content, encoding="utf-8", newline="")
    with pytest.raises(SanctionsFileError) as err:
        load_sdn(tmp_path)
    assert (err.value.file, err.value.line) == (file, line)
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{file} line {line}: ")
    assert err.value.errors[0].field == f"{file}:{line}"


def test_a_row_of_the_real_file_broken_in_place_is_named(tmp_path):
    lines = (SUBSET / "add.csv").read_bytes().split(b"\r\n")
    lines[19] = lines[19].rsplit(b",", 1)[0]  # line 20 loses its last field
    for name in ("sdn.csv", "alt.csv"):
        (tmp_path / name).write_bytes((SUBSET / name).read_bytes())
    (tmp_path / "add.csv").write_bytes(b"\r\n".join(lines))
    with pytest.raises(SanctionsFileError, match=r"^add.csv line 20: 5 fields, expected 6$"):
        load_sdn(tmp_path)


def test_an_unclosed_quote_and_bytes_that_are_not_utf8_are_named(tmp_path):
    (tmp_path / "sdn.csv").write_text(SDN_OK + '11195,"IRAN AIRCRAFT,-0- \r\n', encoding="utf-8", newline="")
    with pytest.raises(SanctionsFileError, match=r"^sdn.csv line 2: not readable as CSV"):
        load_sdn(tmp_path)
    (tmp_path / "sdn.csv").write_bytes(SDN_OK.encode() + SDN_OK.replace("10278", "3").encode("latin-1")
                                       + '4,"MÜLLER, Hans",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'.encode("latin-1"))
    with pytest.raises(SanctionsFileError, match=r"^sdn.csv line 3: not UTF-8 text$"):
        load_sdn(tmp_path)


def test_a_dos_end_of_file_mark_and_blank_lines_are_not_rows(tmp_path):
    (tmp_path / "sdn.csv").write_text(SDN_OK + "\r\n" + SDN_OK.replace("10278", "5") + "\x1a", encoding="utf-8", newline="")
    assert sorted(load_sdn(tmp_path).entries) == [5, 10278]


def test_rows_pointing_to_no_entry_are_recorded_not_attached():
    sdn = read_sdn(SDN_OK)
    sanctions = build(sdn, read_add('999,1,-0- ,"Havana","Cuba",-0- \r\n'), [])
    assert sanctions.entries[10278].addresses == ()
    assert [(o.file, o.line, o.ent_num) for o in sanctions.orphans] == [("add.csv", 1, 999)]
