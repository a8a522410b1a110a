"""A running gateway: Envoy plus, optionally, one mock provider per backend.

Used by `aipol up` and the end-to-end tests:

    with Gateway(wasm, policy=policy, plugin_config=cfg, mock_backends=True) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key=key)
        ...
        gw.mock["gpt"].last.json      # what the mock behind backend "gpt" got
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType

from aipol.compiler.ir import Address, Credential, Policy
from aipol.sidecar.mocks.openai import MockOpenAI, ReceivedRequest

from .bootstrap import render_bootstrap
from .launch import EnvoyProcess
from .ports import free_port


class MockGroup:
    """The mocks of a gateway, by backend name."""

    def __init__(self, mocks: Mapping[str, MockOpenAI]) -> None:
        self._mocks = dict(mocks)

    def __getitem__(self, backend: str) -> MockOpenAI:
        return self._mocks[backend]

    def __iter__(self) -> Iterator[str]:
        return iter(self._mocks)

    def __len__(self) -> int:
        return len(self._mocks)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Everything every mock received (per mock in order; mocks by name)."""
        return [r for name in sorted(self._mocks) for r in self._mocks[name].requests]

    def served_by(self, backend: str) -> list[ReceivedRequest]:
        return list(self._mocks[backend].requests)

    def clear(self) -> None:
        for mock in self._mocks.values():
            mock.clear()


class Gateway:
    """Envoy (+ mocks) as one context manager that always cleans up.

    Give either `config` (a ready envoy.yaml text) or `policy` with
    `plugin_config` to render it. With `mock_backends`, one `MockOpenAI` per
    backend is started and every backend url points at it; credentials that
    are not available here (unset variable, missing file) are replaced by a
    per-backend placeholder variable so Envoy can start. With `free_ports`
    (the default when rendering), listen and admin ports are picked free.
    """

    def __init__(
        self,
        wasm_path: Path,
        *,
        config: str | None = None,
        policy: Policy | None = None,
        plugin_config: str = "",
        mock_backends: bool = False,
        mock_models: list[str] | None = None,
        backend_urls: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        free_ports: bool = True,
        host: str = "127.0.0.1",
        access_log_path: str | None = None,
        concurrency: int = 1,
        log_level: str = "info",
        ready_timeout: float = 20.0,
    ) -> None:
        if (config is None) == (policy is None):
            raise ValueError("give exactly one of config= or policy=")
        if mock_backends and policy is None:
            raise ValueError("mock_backends needs policy= (the config is rendered for the mocks)")
        self.wasm_path = Path(wasm_path)
        self.config = config
        self.policy = policy
        self.plugin_config = plugin_config
        self.mock_backends = mock_backends
        self.mock_models = mock_models
        self.backend_urls = dict(backend_urls or {})
        self.env = dict(os.environ if env is None else env)
        self.free_ports = free_ports
        self.host = host
        self.access_log_path = access_log_path
        self.concurrency = concurrency
        self.log_level = log_level
        self.ready_timeout = ready_timeout
        self.mock = MockGroup({})
        self.envoy: EnvoyProcess | None = None
        self._mocks: list[MockOpenAI] = []

    # -- urls ------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.envoy is not None, "not started"
        return self.envoy.listen_url

    @property
    def base_url(self) -> str:
        """The OpenAI SDK base url (`.../v1`)."""
        return self.url + "/v1"

    @property
    def admin_url(self) -> str:
        assert self.envoy is not None, "not started"
        return self.envoy.admin_url

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> Gateway:
        try:
            config = self.config if self.config is not None else self._render()
            self.envoy = EnvoyProcess(
                config,
                env=self.env,
                concurrency=self.concurrency,
                log_level=self.log_level,
                ready_timeout=self.ready_timeout,
            )
            self.envoy.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _render(self) -> str:
        assert self.policy is not None
        policy = self.policy
        urls = dict(self.backend_urls)
        if self.mock_backends:
            mocks = {}
            for backend in policy.backends:
                mock = MockOpenAI(backend.name, models=self.mock_models).start()
                self._mocks.append(mock)
                mocks[backend.name] = mock
                urls.setdefault(backend.name, mock.url)
            self.mock = MockGroup(mocks)
            policy = self._with_placeholder_credentials(policy)
        if self.free_ports:
            gateway = policy.gateway.model_copy(
                update={
                    "listen": Address(host=self.host, port=free_port(self.host)),
                    "admin": Address(host="127.0.0.1", port=0),
                }
            )
            policy = policy.model_copy(update={"gateway": gateway})
        return render_bootstrap(
            policy,
            self.wasm_path,
            self.plugin_config,
            backend_urls=urls,
            access_log_path=self.access_log_path,
        )

    def _with_placeholder_credentials(self, policy: Policy) -> Policy:
        backends = []
        for backend in policy.backends:
            cred = backend.credential
            available = (cred.source == "env" and cred.ref in self.env) or (
                cred.source == "file" and Path(cred.ref).is_file()
            )
            if cred.source != "none" and not available:
                name = f"AIPOL_MOCK_CREDENTIAL_{backend.name.upper()}"
                self.env.setdefault(name, f"sk-mock-{backend.name}")
                backend = backend.model_copy(
                    update={"credential": Credential(source="env", ref=name)}
                )
            backends.append(backend)
        return policy.model_copy(update={"backends": tuple(backends)})

    def stop(self) -> None:
        """Stop Envoy and the mocks. Idempotent."""
        if self.envoy is not None:
            self.envoy.stop()
        for mock in self._mocks:
            mock.stop()
        self._mocks.clear()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until Ctrl-C or SIGTERM (or Envoy exits), then stop everything."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        # Both signals are handled explicitly: a process started in the
        # background by a non-interactive shell inherits SIGINT as ignored,
        # so relying on KeyboardInterrupt would leave Ctrl-C/kill -INT dead.
        previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            while not stop.wait(0.5):
                if self.envoy is None or not self.envoy.running:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            self.stop()
