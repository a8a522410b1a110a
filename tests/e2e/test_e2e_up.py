"""`aipol up examples/quickstart.aipol` as a user runs it: it serves on the policy's
own ports (127.0.0.1:8080, admin 9901), answers the SDK, and Ctrl-C stops it
cleanly with no Envoy left behind."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest
from e2e_support import ALICE, ROOT, chat

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

AIPOL = Path(sys.executable).with_name("aipol")
PORTS = (8080, 9901)


def port_busy(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(c) for c in task.read_text().split()]
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_aipol_up_serves_and_stops_on_ctrl_c():
    if not AIPOL.is_file():
        pytest.skip(f"no aipol script next to {sys.executable}")
    busy = [p for p in PORTS if port_busy(p)]
    if busy:
        pytest.skip(f"aipol up listens on the policy's ports; busy here: {busy}")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.Popen(
        [str(AIPOL), "up", "examples/quickstart.aipol"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    try:
        base_url = None
        deadline = time.monotonic() + 60
        while base_url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            output.append(line)
            if "OpenAI base url" in line:
                base_url = line.split()[-1]
        assert base_url == "http://127.0.0.1:8080/v1", "".join(output)
        envoys = [
            c for c in children(proc.pid) if "envoy" in Path(f"/proc/{c}/cmdline").read_text()
        ]
        assert len(envoys) == 1, envoys

        with openai.OpenAI(base_url=base_url, api_key=ALICE, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=chat())
        assert raw.headers["x-mock-backend"] == "gpt4o"
        assert raw.parse().choices[0].message.content == "[gpt4o] hello (system messages: 1)"

        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
        assert not alive(envoys[0]), f"envoy {envoys[0]} outlived aipol up"
        while (line := lines.get(timeout=5)) is not None:
            output.append(line)
        assert "aipol: stopped" in "".join(output)
        assert not any(port_busy(p) for p in PORTS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
