"""OFAC SDN list: reading the published legacy delimited files, and fuzzy screening of parties against it.

Format (docs STANDARDS §4, OFAC "dat_spec"): comma-separated, double-quoted text, no header row, the
literal `-0-` (often followed by a space) for null.
* sdn.csv: ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage, GRT, Vess_flag,
  Vess_owner, Remarks. SDN_Type is individual, vessel or aircraft, and null for an entity. Several
  programs are written `NPWMD] [IFSR` (the file's writer wraps the whole field in brackets).
* add.csv: ent_num, Add_num, Address, City/State/Postal, Country, Add_remarks.
* alt.csv: ent_num, alt_num, alt_type (aka, fka, nka), alt_name, alt_remarks.
* sdn_comments.csv: ent_num, the rest of a Remarks field longer than 1,000 characters.
Files may end with a DOS end-of-file mark (0x1A), which is not a row. A row that does not fit the layout
is refused with its file, line and reason: a list read half-way would screen against fewer names than the
compliance officer believes. Addresses and aliases whose ent_num is not in sdn.csv (as in extracts) are
kept aside in `SanctionsList.orphans` rather than attached to nothing.

Screening compares normalised names (diacritics folded, `rapidfuzz.utils.default_process`, legal-form
words such as LLC / Ltd / GmbH / S.A. dropped). Two names match only when their words agree (each word
found on the other side within a typo or so: `words_agree`), then score by token-sort and token-set
ratios and Jaro-Winkler (`name_score`), moved by the party's country against the entry's address
countries. docs/sanctions-screening.md has the rules and the measured quality. An inverted index on name
tokens and their 4-character prefixes and suffixes picks the candidates, so one party is compared with the
few list names it could match, never with all of them.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pycountry
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.utils import default_process

from o2c.core.errors import FieldError, ValidationFailed

NULL = "-0-"
SDN_TYPES = {"individual", "vessel", "aircraft"}  # null = entity
ALT_TYPES = {"aka", "fka", "nka"}
EOF_MARK = "\x1a"


class SanctionsFileError(ValidationFailed):
    """A row of a list file does not fit the format; names the file and line (field `sdn.csv:12`)."""

    def __init__(self, file: str, line: int, reason: str):
        message = f"{file} line {line}: {reason}"
        super().__init__(message, [FieldError(f"{file}:{line}", "sanctions_row", message)])
        self.file, self.line, self.reason = file, line, reason


@dataclass(frozen=True)
class Address:
    uid: int
    address: str | None
    city: str | None  # OFAC's "City/State/Province/Postal Code"
    country: str | None
    remarks: str | None


@dataclass(frozen=True)
class Alias:
    uid: int
    kind: str  # aka, fka (formerly known as), nka (now known as)
    name: str
    remarks: str | None


@dataclass(frozen=True)
class Entry:
    uid: int
    name: str
    type: str  # individual, entity, vessel, aircraft
    programs: tuple[str, ...]
    title: str | None
    remarks: str | None
    aliases: tuple[Alias, ...] = ()
    addresses: tuple[Address, ...] = ()

    @property
    def countries(self) -> frozenset[str]:
        """The entry's address countries as comparable keys (ISO alpha-2 where known)."""
        return frozenset(k for a in self.addresses if (k := country_key(a.country)))


@dataclass(frozen=True)
class Orphan:
    file: str
    line: int
    ent_num: int


@dataclass
class SanctionsList:
    entries: dict[int, Entry]
    orphans: list[Orphan] = field(default_factory=list)

    @property
    def alias_count(self) -> int:
        return sum(len(e.aliases) for e in self.entries.values())

    @property
    def address_count(self) -> int:
        return sum(len(e.addresses) for e in self.entries.values())


# -- reading ------------------------------------------------------------------------------------------

def _value(raw: str) -> str | None:
    v = raw.strip()
    # The 2019 snapshot's last add.csv row ends in a cut-off "-0": the same null, missing its last dash.
    return None if v in (NULL, "-0", "") else v


def _rows(text: str, file: str, width: int) -> Iterable[tuple[int, list[str]]]:
    """(line number where the row starts, fields) for each row; refuses a row of the wrong width."""
    text = text.lstrip("\ufeff")
    if text.endswith(EOF_MARK):
        text = text[:-1]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise SanctionsFileError(file, start, f"not readable as CSV ({e})") from None
        line, start = start, reader.line_num + 1
        if not row or (len(row) == 1 and row[0].strip() in ("", EOF_MARK)):
            continue  # blank line: not a row
        if len(row) != width:
            raise SanctionsFileError(file, line, f"{len(row)} fields, expected {width}")
        yield line, row


def _number(raw: str, file: str, line: int, what: str) -> int:
    v = raw.strip()
    if not v.isdigit():
        raise SanctionsFileError(file, line, f"{what} {v!r} is not a number")
    return int(v)


def _programs(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    return tuple(p.strip() for p in raw.strip("[] ").split("] [") if p.strip())


def read_sdn(text: str, file: str = "sdn.csv") -> list[tuple[int, Entry]]:
    """(line, entry without aliases or addresses) for each row of sdn.csv."""
    out, seen = [], {}
    for line, r in _rows(text, file, 12):
        uid = _number(r[0], file, line, "ent_num")
        if uid in seen:
            raise SanctionsFileError(file, line, f"ent_num {uid} repeats line {seen[uid]}")
        seen[uid] = line
        name = _value(r[1])
        if name is None:
            raise SanctionsFileError(file, line, "SDN_Name is empty")
        kind = _value(r[2])
        if kind is not None and kind.lower() not in SDN_TYPES:
            raise SanctionsFileError(file, line, f"SDN_Type {kind!r} is not individual, vessel, aircraft or -0-")
        out.append((line, Entry(uid, name, kind.lower() if kind else "entity", _programs(_value(r[3])),
                                _value(r[4]), _value(r[11]))))
    return out


def read_add(text: str, file: str = "add.csv") -> list[tuple[int, int, Address]]:
    """(line, ent_num, address) for each row of add.csv."""
    out = []
    for line, r in _rows(text, file, 6):
        ent = _number(r[0], file, line, "ent_num")
        out.append((line, ent, Address(_number(r[1], file, line, "Add_num"), _value(r[2]), _value(r[3]),
                                       _value(r[4]), _value(r[5]))))
    return out


def read_alt(text: str, file: str = "alt.csv") -> list[tuple[int, int, Alias]]:
    """(line, ent_num, alias) for each row of alt.csv."""
    out = []
    for line, r in _rows(text, file, 5):
        ent = _number(r[0], file, line, "ent_num")
        uid = _number(r[1], file, line, "alt_num")
        kind = (_value(r[2]) or "").lower()
        if kind not in ALT_TYPES:
            raise SanctionsFileError(file, line, f"alt_type {r[2].strip()!r} is not aka, fka or nka")
        name = _value(r[3])
        if name is None:
            raise SanctionsFileError(file, line, "alt_name is empty")
        out.append((line, ent, Alias(uid, kind, name, _value(r[4]))))
    return out


def read_comments(text: str, file: str = "sdn_comments.csv") -> list[tuple[int, int, str]]:
    """(line, ent_num, remarks continued) for each row of sdn_comments.csv."""
    return [(line, _number(r[0], file, line, "ent_num"), r[1].strip()) for line, r in _rows(text, file, 2)]


def build(sdn: list[tuple[int, Entry]], add=(), alt=(), comments=(),
          files=("add.csv", "alt.csv", "sdn_comments.csv")) -> SanctionsList:
    """Attach addresses, aliases and remark spill-over to their entries."""
    entries = {e.uid: e for _, e in sdn}
    addresses, aliases, extra = defaultdict(list), defaultdict(list), {}
    orphans = []
    for (rows, bucket, file) in ((add, addresses, files[0]), (alt, aliases, files[1])):
        for line, ent, item in rows:
            if ent in entries:
                bucket[ent].append(item)
            else:
                orphans.append(Orphan(file, line, ent))
    for line, ent, more in comments:
        if ent in entries:
            extra[ent] = more
        else:
            orphans.append(Orphan(files[2], line, ent))
    for uid, e in entries.items():
        remarks = e.remarks
        if uid in extra:
            remarks = f"{remarks or ''}{extra[uid]}"
        entries[uid] = Entry(e.uid, e.name, e.type, e.programs, e.title, remarks,
                             tuple(aliases[uid]), tuple(addresses[uid]))
    return SanctionsList(entries, orphans)


def _text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise SanctionsFileError(path.name, line, "not UTF-8 text") from None


def load_sdn(directory: str | Path) -> SanctionsList:
    """Read sdn.csv (required) and add.csv, alt.csv, sdn_comments.csv (when present) from a directory."""
    d = Path(directory)
    parts = {}
    for name, reader in (("add.csv", read_add), ("alt.csv", read_alt), ("sdn_comments.csv", read_comments)):
        parts[name] = reader(_text(d / name), name) if (d / name).exists() else []
    return build(read_sdn(_text(d / "sdn.csv")), parts["add.csv"], parts["alt.csv"], parts["sdn_comments.csv"])


# -- countries ----------------------------------------------------------------------------------------

# OFAC's spellings that pycountry does not know; regions map to the country they lie in.
_OFAC_COUNTRIES = {
    "bahamas, the": "BS", "the gambia": "GM", "burma": "MM", "russia": "RU", "turkey": "TR",
    "congo, democratic republic of the": "CD", "congo, republic of the": "CG", "cote d ivoire": "CI",
    "korea, north": "KP", "korea, south": "KR", "kosovo": "XK", "man, isle of": "IM",
    "netherlands antilles": "AN", "palestinian": "PS", "west bank": "PS", "region: gaza": "PS",
    "region: crimea": "UA", "region: northern mali": "ML",
}


@lru_cache(maxsize=4096)
def country_key(country: str | None) -> str | None:
    """ISO 3166 alpha-2 for a code or name (OFAC's spellings included); the lower-cased name otherwise."""
    if not country or country.strip().lower() in (NULL, "undetermined"):
        return None
    c = country.strip()
    if c.lower() in _OFAC_COUNTRIES:
        return _OFAC_COUNTRIES[c.lower()]
    try:
        return pycountry.countries.lookup(c).alpha_2
    except LookupError:
        return c.lower()


# -- screening ----------------------------------------------------------------------------------------

# Legal forms and company words that say nothing about who the party is (after default_process,
# dotted forms are joined first: "S.A." -> "sa", "S.R.O." -> "sro").
NOISE = frozenset("""
llc ltd limited inc incorporated corp corporation co company plc lp llp gmbh mbh ag kg ug sa sas sarl sl
srl sro spa bv nv oy ab as asa aps pte pty bhd sdn kk ooo oao zao pao jsc ojsc cjsc pjsc ltda cia
cv rl doo dd sac sal saa saic ao the and of
""".split())
# Long legal-form words are dropped with a typo too ("Limitde", "Compnay"): a customer file has them.
LONG_NOISE = tuple(w for w in NOISE if len(w) >= 6)

COUNTRY_AGREES = 5.0  # points added when the party's country is one of the entry's address countries
COUNTRY_CONFLICTS = 10.0  # points taken off when the entry has countries and the party's is not one
DEFAULT_THRESHOLD = 88.0
PREFILTER_MARGIN = 30.0
MISSING_WORD = 7.0  # one missing middle name still flags (93), two do not ("Maria Garcia", 86)
_DOTTED = re.compile(r"\b(?:[A-Za-z]\.){2,}|\b(?:[A-Za-z]{1,3}\.)")


def normalise(name: str) -> str:
    """Comparable form of a name: diacritics folded, dotted abbreviations joined, default_process, noise
    words dropped (unless the name is nothing but noise words)."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), folded).replace("&", " and ")
    folded = re.sub(r"['\u2019`]", "", folded)  # PEOPLE'S = PEOPLES, Mas'ud = Masud
    tokens = default_process(folded).split()
    kept = [t for t in tokens if t not in NOISE
            and not (len(t) >= 6 and any(similar_words(t, w) for w in LONG_NOISE))]
    while len(kept) > 1 and kept[-1] == "de":  # what "S.A. DE C.V." leaves behind
        kept.pop()
    return " ".join(kept or tokens)


@dataclass(frozen=True)
class Party:
    name: str
    country: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float  # 0..100 after the country adjustment
    party_name: str  # the party's name or alias that matched
    list_name: str  # the entry's name or alias that matched
    list_name_kind: str  # "name" or the alias kind (aka, fka, nka)
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Name:
    entry: Entry
    text: str
    kind: str
    norm: str
    tokens: frozenset[str]
    countries: frozenset[str]


def _aligned(words: list[str], order: list[str]) -> str:
    """`words` rearranged in the order of their most similar words in `order`, the rest after: sorting
    both names alphabetically fails when a typo hits a first letter ("Itnernacional" sorts after
    "Inversiones", "INTERNACIONAL" before)."""
    left, out = list(words), []
    for o in order:
        if not left:
            break
        best = max(left, key=lambda w: fuzz.ratio(w, o))
        if similar_words(best, o):
            out.append(best)
            left.remove(best)
    return " ".join(out + left)


def name_score(a: str, b: str, person: bool = False) -> tuple[float, dict[str, float]]:
    """Similarity 0..100 of two normalised names and its parts.

    Token-sort ratio (word order does not matter: "Elvis Angus Logan Morey" = "LOGAN MOREY, Elvis
    Angus"), or the plain ratio with the words of `a` aligned on those of `b` when higher, weighs 0.8;
    Jaro-Winkler on the aligned names, which rewards small typos, 0.2. For a person, token-set ratio
    less MISSING_WORD (7) points per missing word may score instead: a customer file rarely carries the middle names
    and patronymics the list has. For a company a missing word makes another company ("Falcon Systems"
    is not "Rapid Falcon Systems"), so token-set ratio is not used."""
    ta, tb = a.split(), b.split()
    aligned = _aligned(ta, tb)
    ts = max(fuzz.token_sort_ratio(a, b), fuzz.ratio(aligned, b))
    jw = JaroWinkler.similarity(aligned, b) * 100
    score = 0.8 * ts + 0.2 * jw
    parts = {"token_sort": ts, "jaro_winkler": jw}
    sa, sb = set(ta), set(tb)
    if person and min(len(sa), len(sb)) >= 2:
        parts["token_set"] = tset = fuzz.token_set_ratio(a, b)
        score = max(score, tset - MISSING_WORD * abs(len(sa) - len(sb)))
    return score, parts


def similar_words(a: str, b: str) -> bool:
    """Equal, or the same first letter and one typo (a letter changed, added, dropped or two swapped) per
    4 letters of the longer word; words of 3 letters or fewer must be equal. "Caribbean" is not
    "Aerocaribbean" (4 letters more), "Mountain" not "Fountain": a first letter changed makes another
    word more often than a typo (allowing it doubled the false hits in the benchmark)."""
    if a == b:
        return True
    if min(len(a), len(b)) <= 3:
        return False
    if a[0] != b[0]:  # only a first letter dropped or added, or the first two swapped ("Awlid", "Walid")
        return a == b[1:] or b == a[1:] or (a[:2] == b[1::-1] and a[2:] == b[2:])
    return OSA.distance(a, b) <= max(len(a), len(b)) // 4


# Words that join a name's parts ("ROBLE DE MINAS", "Minas Roble"): not needed on both sides.
CONNECTORS = frozenset("de del da di du des la le el y e et und".split())


def _word_found(word: str, others: list[str]) -> bool:
    if len(word) == 1:  # an initial stands for any word it begins
        return any(o[0] == word for o in others)
    return any(similar_words(word, o) or (len(o) == 1 and word[0] == o) for o in others)


def words_agree(party: str, listed: str, person: bool) -> bool:
    """Every word of the party's name is in the list name, and, for a company, every word of the list
    name is in the party's: two names sharing one word ("Green Engineering", "TMG Engineering") are
    different names however high their ratios. A person's list name may carry words the party lacks
    (middle names) as long as two of them are found. Names written together or apart ("Aero Caribbean",
    "AEROCARIBBEAN") agree by their letters (one typo at most)."""
    pa, lb = party.split(), listed.split()
    if len(pa) != len(lb) and OSA.distance(party.replace(" ", ""), listed.replace(" ", "")) <= 1:
        return True
    if not all(_word_found(w, lb) for w in pa if w not in CONNECTORS):
        return False
    if person:
        return len(pa) >= 2 or len(lb) == 1
    return all(_word_found(w, pa) for w in lb if w not in CONNECTORS)


def _keys(token: str) -> set[str]:
    """Blocking keys of a token: itself, and its first and last 4 characters (one typo keeps one of them)."""
    keys = {token}
    if len(token) > 4:
        keys |= {"<" + token[:4], token[-4:] + ">"}
    return keys


class ScreeningIndex:
    """The list's names and aliases, normalised once, with an inverted index from blocking keys to names.

    Keys shared by more than `common_key_limit` names ("international", "trading") are not used to find
    candidates when the party has a rarer key: they would bring hundreds of names to compare for nothing.
    """

    def __init__(self, sanctions: SanctionsList, types: Iterable[str] | None = None,
                 common_key_limit: int = 150):
        wanted = set(types) if types else None
        self.names: list[_Name] = []
        for e in sanctions.entries.values():
            if wanted and e.type not in wanted:
                continue
            countries = e.countries
            for text, kind in [(e.name, "name")] + [(a.name, a.kind) for a in e.aliases]:
                norm = normalise(text)
                if norm:
                    self.names.append(_Name(e, text, kind, norm, frozenset(norm.split()), countries))
        postings: dict[str, list[int]] = defaultdict(list)
        for i, n in enumerate(self.names):
            for key in set().union(*(_keys(t) for t in n.tokens)):
                postings[key].append(i)
        self.postings = dict(postings)
        self.common_key_limit = common_key_limit

    def __len__(self) -> int:
        return len(self.names)

    def candidates(self, norm: str) -> set[int]:
        keys = set().union(*(_keys(t) for t in norm.split())) if norm else set()
        lists = [self.postings[k] for k in keys if k in self.postings]
        rare = [p for p in lists if len(p) <= self.common_key_limit]
        out: set[int] = set()
        for p in rare or lists:
            out.update(p)
        return out

    def screen(self, party: Party, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        """The entries the party may be, best first: one match per entry, the best of the party's names
        against the entry's names and aliases, kept when its score reaches the threshold."""
        country = country_key(party.country)
        best: dict[int, tuple[tuple[float, float], Match]] = {}
        # A country can add COUNTRY_AGREES, so a name below threshold - COUNTRY_AGREES cannot make it.
        floor = threshold - (COUNTRY_AGREES if country else 0)
        for pname in (party.name, *party.aliases):
            pnorm = normalise(pname)
            if not pnorm:
                continue
            cands = list(self.candidates(pnorm))
            # A first pass in rapidfuzz's C loop: token_ratio (the better of token-sort and token-set) is
            # far below the final score only when a typo reorders sorted words (measured: 67 for a score
            # of 96), so PREFILTER_MARGIN points under the floor loses no match worth flagging.
            rough = process.extract(pnorm, [self.names[i].norm for i in cands], scorer=fuzz.token_ratio,
                                    processor=None, score_cutoff=max(0.0, floor - PREFILTER_MARGIN), limit=None)
            for _, _, k in rough:
                n = self.names[cands[k]]
                person = n.entry.type == "individual"
                if not words_agree(pnorm, n.norm, person):
                    continue
                score, parts = name_score(pnorm, n.norm, person)
                if score < floor:
                    continue
                reasons = [f"{'name' if n.kind == 'name' else n.kind + ' alias'} {n.text!r} ~ {pname!r}: "
                           + ", ".join(f"{k} {v:.0f}" for k, v in parts.items())]
                entry_countries = n.countries
                if country and entry_countries:
                    if country in entry_countries:
                        score += COUNTRY_AGREES
                        reasons.append(f"country {country} is an address country of the entry (+{COUNTRY_AGREES:g})")
                    else:
                        score -= COUNTRY_CONFLICTS
                        reasons.append(f"country {country} is not among the entry's "
                                       f"{', '.join(sorted(entry_countries))} (-{COUNTRY_CONFLICTS:g})")
                score = min(100.0, score)
                if score < threshold:
                    continue
                # The entry's best name wins; among equals, the one written in the party's word order.
                rank = (score, fuzz.ratio(pnorm, n.norm))
                prev = best.get(n.entry.uid)
                if prev is None or rank > prev[0]:
                    best[n.entry.uid] = (rank, Match(n.entry, round(score, 1), pname, n.text, n.kind,
                                                     tuple(reasons)))
        return sorted((m for _, m in best.values()), key=lambda m: (-m.score, m.entry.uid))


def screen(sanctions: SanctionsList | ScreeningIndex, party: Party,
           threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
    """Screen one party; pass a ScreeningIndex (built once) when screening many."""
    index = sanctions if isinstance(sanctions, ScreeningIndex) else ScreeningIndex(sanctions)
    return index.screen(party, threshold)
