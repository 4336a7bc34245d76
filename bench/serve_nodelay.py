"""Run an ASGI app under uvicorn with TCP_NODELAY set on every accepted connection.

Why: with `--workers N > 1` uvicorn binds the listening socket itself as socket.socket(family) (proto 0),
and asyncio only sets TCP_NODELAY on sockets whose proto is IPPROTO_TCP. The accepted connections then
run with Nagle's algorithm on, and uvicorn's h11 protocol writes a response's head and body in two
sends: on a keep-alive connection the body waits for the client's delayed ACK, about 40 ms on Linux.
Measured here: `uvicorn --workers 2` answers GET /health of a bare FastAPI app in ~44 ms per request on a
keep-alive connection (22 req/s on one connection), with one worker in ~1 ms. This launcher gives both
servers of bench_order_submit the same fix, so the comparison measures the applications, not Nagle.

    .venv/bin/python bench/serve_nodelay.py o2c.web.app:create_app --factory --port 8000 --workers 2
"""
from __future__ import annotations

import argparse
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport):  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("app")
    ap.add_argument("--factory", action="store_true")
    ap.add_argument("--app-dir", default="")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if args.app_dir:
        import sys

        sys.path.insert(0, args.app_dir)
    uvicorn.run(args.app, factory=args.factory, host=args.host, port=args.port, workers=args.workers,
                http=NoDelayH11Protocol, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
