"""Sanctions screening of a customer base against the full 2019 OFAC SDN snapshot (pure Python, no database).

--customers synthetic parties (default 100,000): mostly random company names built from common business
words and random person names, plus --planted variations of names and aliases taken from the list (words
reordered, a typo, a legal form added or dropped, a missing middle word, case and accents changed), each
planted one labelled with the entry it came from. Every party is screened with
`o2c.compliance.sanctions.ScreeningIndex.screen` at --threshold. Figures: time to load the list and build
the index, screening time, parties/s, how many random names were flagged (false positives: the random
names are not on the list), and precision and recall on the planted ones.

    .venv/bin/python bench/bench_screening.py                    # 100,000 parties (~1 min)
    .venv/bin/python bench/bench_screening.py --customers 20000 --threshold 85
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line  # noqa: E402

from o2c.compliance.sanctions import (  # noqa: E402
    DEFAULT_THRESHOLD, Party, ScreeningIndex, load_sdn, normalise,
)

FULL = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sanctions" / "ofac-sdn-full"

ADJECTIVES = """Northern Southern Eastern Western Blue Green Red Silver Golden Bright Rapid Prime First United
Pacific Atlantic Alpine Coastal Summit Pioneer Liberty Heritage Royal Modern Classic Precision Advanced Smart
Global Central Metro Urban Rural Valley River Lake Forest Mountain Harbor Bay Sun Star Oak Maple Cedar Pine
Iron Stone Crystal Diamond Eagle Falcon Lion Phoenix Vertex Apex Nova Orion Zenith Delta Sigma Omega""".split()
NOUNS = """Trading Logistics Foods Systems Solutions Holdings Industries Partners Supplies Distribution
Technologies Software Consulting Engineering Construction Motors Textiles Furniture Plastics Metals Chemicals
Pharma Medical Dental Farms Bakery Brewing Coffee Apparel Printing Packaging Freight Shipping Electric
Energy Power Solar Water Design Media Marketing Studios Labs Robotics Instruments Tools Hardware Paper
Imports Exports Wholesale Retail Outfitters Garden Home Builders Foundry Analytics Networks Security""".split()
FORMS = ["Ltd", "LLC", "Inc.", "GmbH", "S.A.", "B.V.", "Co.", "Corp.", "PLC", "AG", "S.r.l.", "Pty Ltd", ""]
FIRST = """James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan
Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Sandra Paul Ashley
Steven Emily Andrew Donna Kenneth Michelle Kevin Carol Brian Amanda George Melissa Timothy Deborah Sophie
Lukas Anna Jonas Marie Pierre Camille Luca Giulia Hans Ingrid Sven Astrid Pedro Lucia Jan Eva""".split()
LAST = """Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Jackson Martin
Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Hill Green Adams Baker Nelson
Carter Mitchell Roberts Turner Phillips Campbell Parker Evans Edwards Collins Stewart Morris Murphy Cook
Rogers Peterson Cooper Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray
Mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Dubois Laurent Bernard Rossi
Russo Ferrari Esposito Bianchi Jansen Visser Nielsen Hansen Larsen Lindqvist Novak Kowalski""".split()
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "IT", "ES", "SE", "CA", "AU", "JP", "CH"]


def random_party(rng: random.Random) -> Party:
    roll = rng.random()
    if roll < 0.55:
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(FORMS)}".strip()
    elif roll < 0.75:
        name = f"{rng.choice(LAST)} {rng.choice(['&', 'and'])} {rng.choice(LAST)} {rng.choice(FORMS)}".strip()
    elif roll < 0.85:
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(FORMS)}".strip()
    else:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    return Party(name, rng.choice(COUNTRIES + [None]))


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "replace"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    return word[:i] + rng.choice("aeioulnrst") + word[i + 1:]


def variation(name: str, is_person: bool, rng: random.Random) -> str:
    """A realistic way the same name reaches a customer file."""
    words = name.replace(",", " ").split()
    kind = rng.choice(["reorder", "typo", "form", "case", "drop_middle"])
    if kind == "reorder" and len(words) > 1:
        rng.shuffle(words)
    elif kind == "typo":
        long = [i for i, w in enumerate(words) if len(w) >= 6]
        if long:
            i = rng.choice(long)
            words[i] = typo(words[i], rng)
    elif kind == "form" and not is_person:
        words.append(rng.choice(["Ltd", "LLC", "GmbH", "S.A.", "Co."]))
    elif kind == "drop_middle" and is_person and len(words) >= 4:
        del words[rng.randrange(2, len(words))]
    text = " ".join(words)
    return text.title() if rng.random() < 0.5 else text


def planted_parties(index: ScreeningIndex, count: int, rng: random.Random) -> list[tuple[Party, int]]:
    # Names of three words or more only where a variation stays recognisable: one-word list names with
    # a typo are a different name as often as the same one.
    pool = [n for n in index.names if len(n.norm.split()) >= 2 and n.entry.type in ("individual", "entity")]
    out = []
    for n in rng.sample(pool, count):
        entry_countries = [a.country for a in n.entry.addresses if a.country]
        country = rng.choice(entry_countries) if entry_countries and rng.random() < 0.5 else None
        out.append((Party(variation(n.text, n.entry.type == "individual", rng), country), n.entry.uid))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--planted", type=int, default=300)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    sdn = load_sdn(FULL)
    t1 = time.perf_counter()
    index = ScreeningIndex(sdn)
    t2 = time.perf_counter()

    planted = planted_parties(index, args.planted, rng)
    parties: list[tuple[Party, int | None]] = [(random_party(rng), None)
                                               for _ in range(args.customers - len(planted))]
    parties += planted
    rng.shuffle(parties)

    flagged_random, hit, flagged_planted_wrong, missed = [], 0, 0, []
    t3 = time.perf_counter()
    for party, uid in parties:
        matches = index.screen(party, args.threshold)
        if uid is None:
            if matches:
                flagged_random.append((party, matches[0]))
        elif any(m.entry.uid == uid for m in matches):
            hit += 1
        else:
            missed.append((party, sdn.entries[uid].name))
            flagged_planted_wrong += bool(matches)
    t4 = time.perf_counter()

    # A planted party counts as found when the entry it came from is among its matches; a random party
    # flagged at all is a false positive, unless its name is literally on the list (same words, any order).
    on_list = {" ".join(sorted(n.norm.split())) for n in index.names}
    false_pos = [(p, m) for p, m in flagged_random if " ".join(sorted(normalise(p.name).split())) not in on_list]
    flags = hit + len(false_pos) + flagged_planted_wrong
    precision = hit / flags if flags else 1.0
    recall = hit / len(planted)

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"list: {len(sdn.entries):,} entries, {len(index):,} names and aliases "
          f"(load {t1 - t0:.2f} s, index {t2 - t1:.2f} s)")
    print(f"screened {len(parties):,} parties ({len(planted)} planted) at threshold {args.threshold:g}: "
          f"{t4 - t3:.1f} s, {len(parties) / (t4 - t3):,.0f} parties/s")
    print(f"planted found {hit}/{len(planted)} (recall {recall:.3f}); flagged random names: "
          f"{len(flagged_random)} ({len(flagged_random) - len(false_pos)} literally on the list); "
          f"precision {precision:.3f}")
    for p, m in false_pos[:10]:
        print(f"  false positive: {p.name!r} ({p.country}) -> {m.list_name!r} {m.score}")
    for p, name in missed[:10]:
        print(f"  missed: {p.name!r} ({p.country}) from {name!r}")
    print("command:", command_line())


if __name__ == "__main__":
    main()
