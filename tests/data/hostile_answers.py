"""A small hostile HTTP server for tests: answers that no archive sends on purpose.

Each path is one behaviour; every answer ends when the client closes the connection or after a
bounded amount (so a test that fails cannot hang the suite). 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import socketserver
import threading

# An endless body still ends here, so a broken client cannot fill the test machine's disk.
HARD_STOP_BYTES = 64 << 20


class HostileServer:
    def __init__(self, fits_body: bytes = b""):
        self.fits_body = fits_body
        self.sent: dict[str, int] = {}
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                request = self.rfile.readline(8192).decode("latin-1")
                server.headers = {}
                while (line := self.rfile.readline(8192)) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    server.headers[name.strip().lower()] = value.strip()
                path = (request.split(" ")[1] if " " in request else "/").split("?")[0]
                path = "/" + path.strip("/").split("/")[0]
                try:
                    server.sent[path] = getattr(server, "_" + path.strip("/").split("?")[0].replace("-", "_"))(
                        self.wfile)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- behaviours (the path names them) ---------------------------------------------------

    @staticmethod
    def _many_headers(out) -> int:
        """5,000 header lines before the body."""
        out.write(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Filler-%d: x\r\n" % i for i in range(5000))
                  + b"Content-Length: 4\r\nConnection: close\r\n\r\nSIMP")
        return 4

    @staticmethod
    def _long_header(out) -> int:
        """One header of 1 MB."""
        out.write(b"HTTP/1.1 200 OK\r\nX-Long: " + b"x" * (1 << 20) + b"\r\nContent-Length: 4\r\n"
                  b"Connection: close\r\n\r\nSIMP")
        return 4

    def _echo_token(self, out) -> int:
        """403 whose reason phrase and body repeat the cookie the client sent (a careless error page)."""
        cookie = self.headers.get("cookie", "no cookie").encode("latin-1")
        body = b"<error>denied for " + cookie + b"</error>"
        out.write(b"HTTP/1.1 403 Forbidden " + cookie + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                  % len(body) + body)
        return len(body)

    @staticmethod
    def _endless(out, headers: bytes = b"") -> int:
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n"
                  + headers + b"\r\n")
        sent, block = 0, b"\x00" * 65536
        while sent < HARD_STOP_BYTES:
            out.write(block)
            sent += len(block)
        return sent

    def _endless_fits(self, out) -> int:
        """No Content-Length; the FITS file, then zeros without end."""
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
        out.write(self.fits_body)
        return len(self.fits_body) + self._zeros(out)

    def _fits_then_zeros(self, out) -> int:
        """No Content-Length; the FITS file followed by 544,320 zero bytes (what the probe saw)."""
        out.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + self.fits_body + b"\x00" * 544_320)
        return len(self.fits_body) + 544_320

    def _huge_length(self, out) -> int:
        """Content-Length of 50 GB, then the FITS file and zeros without end."""
        out.write(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000000\r\nConnection: close\r\n\r\n" + self.fits_body)
        return len(self.fits_body) + self._zeros(out)

    @staticmethod
    def _gzip_bomb(out) -> int:
        body = gzip.compress(b"\x00" * (200 << 20), 9)  # ~200 KB that inflate to 200 MB
        out.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                  % len(body) + body)
        return len(body)

    @staticmethod
    def _zeros(out) -> int:
        sent, block = 0, b"\x00" * 65536
        while sent < HARD_STOP_BYTES:
            out.write(block)
            sent += len(block)
        return sent
