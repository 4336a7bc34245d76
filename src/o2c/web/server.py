"""Serving the app with uvicorn: httptools and uvloop, and TCP_NODELAY on every connection.

With `--workers N > 1` uvicorn binds the listening socket itself without marking it as TCP, so asyncio
leaves Nagle's algorithm on for accepted connections; a response written in two sends then waits for
the client's delayed ACK (about 40 ms per request on a kept-open connection, measured here).
"""
from __future__ import annotations

import contextlib
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport):  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket (a Unix socket): nothing to do
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def run(host: str, port: int, workers: int) -> None:
    uvicorn.run("o2c.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                http=NoDelayHttpToolsProtocol, loop="uvloop", log_level="warning", access_log=False)
