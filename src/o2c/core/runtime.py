"""Process settings for long-running o2c processes (the server, workers, imports)."""
from __future__ import annotations

import gc

# Python's cycle collector runs a full pass every ~70,000 net allocations by default; with thousands of
# ORM objects alive (a 1,000-line order, the reference-data cache) each pass costs tens of ms, and it
# ran several times per large order. Rarer young-generation passes cut a 1,000-line order's capture
# from ~0.9 s to ~0.55 s and a line edit from ~270 ms to ~160 ms here (bench/bench_large_order.py).
GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
