"""A private nginx on 127.0.0.1 serving the generated file sets.

nginx comes from the system package manager (``apt-get install -y nginx`` on Debian/Ubuntu,
done by ``ensure_packages`` when missing). It runs in the foreground under its own prefix
directory with its own config, so it touches no system service, and is stopped by the pid we
started. Logging is off and keep-alive is unlimited so the server is never the bottleneck.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from _util import log

# command -> apt package; eatmydata (fsync made a no-op) is for the profile's ablation runs only.
PACKAGES = {"nginx": "nginx", "aria2c": "aria2", "wget": "wget", "curl": "curl", "eatmydata": "eatmydata",
            "openssl": "openssl", "/usr/bin/time": "time"}

CONFIG = """\
worker_processes 2;
daemon off;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    types {{ application/fits fits; }}
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def ensure_packages() -> None:
    """Install the peer tools from the system package manager if any is missing."""
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if shutil.which(cmd) is None})
    if not missing:
        return
    log(f"installing {', '.join(missing)} with apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                   env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


class Nginx:
    """``with Nginx(root, prefix) as server: server.url("a/x.fits")``"""

    def __init__(self, root: Path, prefix: Path):
        self.root = Path(root).resolve()
        self.prefix = Path(prefix).resolve()
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, rel: str) -> str:
        return f"http://127.0.0.1:{self.port}/{rel}"

    def __enter__(self) -> "Nginx":
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONFIG.format(prefix=self.prefix, port=self.port, root=self.root))
        self.proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(self.prefix),
                                      "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for_port(self.port, self.proc)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to the master we started; it stops its workers
            self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited at start: {proc.stderr.read().decode(errors='replace')}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within {timeout} s")
