"""Load generator for bench_order_submit, always in its own process(es), traffic to 127.0.0.1 only.

Two engines send the same requests (random 3-line orders, a fresh Idempotency-Key on each):
- `wrk` (Debian package `wrk`, C, one thread, N connections) when it is installed: it needs little CPU,
  which matters on a 2-core machine where the server under test needs both cores;
- otherwise (or with --engine httpx) this file run as a script: N threads, each with its own
  keep-alive httpx.Client, which is itself CPU-hungry and so under-reports the server's ceiling.

A spec (JSON) says what to send: base URL, path, API key, customer ids, SKUs, lines per order and a
prefix that makes PO numbers and idempotency keys unique per run.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LoadResult:
    engine: str
    requests: int
    seconds: float
    rps: float  # requests answered with the expected status, per second
    ok: int
    statuses: dict
    errors: dict
    p50_ms: float
    p99_ms: float
    mean_ms: float


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def order_body(rnd: random.Random, spec: dict, n: int, tid: int) -> dict:
    skus = rnd.sample(spec["skus"], spec["lines"])
    return {
        "customer_id": rnd.choice(spec["customers"]),
        "channel": "web",
        "po_number": f"{spec['prefix']}-{tid}-{n}",
        "lines": [{"sku": s, "quantity": rnd.randint(1, 5)} for s in skus],
    }


# ---------------------------------------------------------------- wrk

_LUA = r"""
local customers = {%(customers)s}
local skus = {%(skus)s}
local nlines = %(lines)d
local prefix = "%(prefix)s"
local path = "%(path)s"
local auth = "%(auth)s"
local counter = 0
local threads = {}
statuses = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  counter = counter + 1
  local picked, seen = {}, {}
  while #picked < nlines do
    local s = skus[math.random(#skus)]
    if not seen[s] then seen[s] = true; picked[#picked + 1] = string.format('{"sku":"%%s","quantity":%%d}', s, math.random(1, 5)) end
  end
  local body = string.format('{"customer_id":%%d,"channel":"web","po_number":"%%s-%%d-%%d","lines":[%%s]}',
    customers[math.random(#customers)], prefix, tid, counter, table.concat(picked, ","))
  local headers = {["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. "-" .. tid .. "-" .. counter}
  if auth ~= "" then headers["Authorization"] = "Bearer " .. auth end
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local st = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do st[tostring(k)] = (st[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = string.format('"%%s":%%d', k, v) end
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"mean_us":%%f,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},"statuses":{%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
"""


def _run_wrk(spec: dict, connections: int, seconds: float, expect: int) -> LoadResult:
    lua = _LUA % {
        "customers": ",".join(str(c) for c in spec["customers"]),
        "skus": ",".join(json.dumps(s) for s in spec["skus"]),
        "lines": spec["lines"], "prefix": spec["prefix"], "path": spec["path"], "auth": spec.get("api_key") or "",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", f.name,
             spec["base_url"]],
            capture_output=True, text=True, timeout=seconds + 60,
        )
    finally:
        os.unlink(f.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    d = json.loads(line[len("WRK_JSON "):])
    secs = d["duration_us"] / 1e6
    ok = d["statuses"].get(str(expect), 0)
    return LoadResult("wrk", d["requests"], secs, ok / secs, ok, d["statuses"], d["errors"],
                      d["p50_us"] / 1000, d["p99_us"] / 1000, d["mean_us"] / 1000)


# ---------------------------------------------------------------- httpx (fallback)

def _httpx_main(spec_path: str) -> None:
    import httpx

    spec = json.loads(Path(spec_path).read_text())
    connections, seconds, max_requests = spec["connections"], spec["seconds"], spec["max_requests"]
    headers = {"Content-Type": "application/json"}
    if spec.get("api_key"):
        headers["Authorization"] = f"Bearer {spec['api_key']}"
    lat: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[dict] = [{} for _ in range(connections)]
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    sent = [0]
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def worker(tid: int) -> None:
        rnd = random.Random(tid * 7919 + int(start))
        n = 0
        with httpx.Client(base_url=spec["base_url"], headers=headers, timeout=10) as client:
            while time.perf_counter() < deadline:
                with lock:
                    if max_requests and sent[0] >= max_requests:
                        return
                    sent[0] += 1
                n += 1
                body = json.dumps(order_body(rnd, spec, n, tid))
                t0 = time.perf_counter()
                try:
                    r = client.post(spec["path"], content=body,
                                    headers={"Idempotency-Key": f"{spec['prefix']}-{tid}-{n}"})
                except httpx.TimeoutException:
                    errors["timeout"] += 1
                    continue
                except httpx.HTTPError:
                    errors["read"] += 1
                    continue
                lat[tid].append(time.perf_counter() - t0)
                statuses[tid][r.status_code] = statuses[tid].get(r.status_code, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - start
    all_lat = sorted(x for ls in lat for x in ls)
    st: dict[str, int] = {}
    for s in statuses:
        for k, v in s.items():
            st[str(k)] = st.get(str(k), 0) + v

    def p(q):
        return all_lat[max(0, min(len(all_lat) - 1, int(round(q / 100 * len(all_lat) + 0.5)) - 1))] if all_lat else 0

    print("HTTPX_JSON " + json.dumps({
        "requests": len(all_lat), "seconds": secs, "statuses": st, "errors": errors,
        "p50_ms": p(50) * 1000, "p99_ms": p(99) * 1000,
        "mean_ms": (sum(all_lat) / len(all_lat) * 1000) if all_lat else 0,
    }), flush=True)


def _run_httpx(spec: dict, connections: int, seconds: float, max_requests: int, expect: int) -> LoadResult:
    spec = dict(spec, connections=connections, seconds=seconds, max_requests=max_requests)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        out = subprocess.run([sys.executable, __file__, f.name], capture_output=True, text=True,
                             timeout=seconds + 120)
    finally:
        os.unlink(f.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("HTTPX_JSON ")), None)
    if line is None:
        raise RuntimeError(f"load generator failed:\n{out.stdout}\n{out.stderr}")
    d = json.loads(line[len("HTTPX_JSON "):])
    ok = d["statuses"].get(str(expect), 0)
    return LoadResult("httpx", d["requests"], d["seconds"], ok / d["seconds"], ok, d["statuses"], d["errors"],
                      d["p50_ms"], d["p99_ms"], d["mean_ms"])


def run_load(spec: dict, *, connections: int, seconds: float, max_requests: int = 0, engine: str = "auto",
             expect: int = 201) -> LoadResult:
    """Send spec's requests over `connections` connections for `seconds` (the httpx engine also stops
    after `max_requests` when it is not 0; wrk is bounded by time only)."""
    if engine == "auto":
        engine = "wrk" if have_wrk() else "httpx"
    if engine == "wrk":
        if not have_wrk():
            raise RuntimeError("wrk is not installed (apt-get install wrk), use --engine httpx")
        return _run_wrk(spec, connections, seconds, expect)
    return _run_httpx(spec, connections, seconds, max_requests, expect)


if __name__ == "__main__":
    _httpx_main(sys.argv[1])
