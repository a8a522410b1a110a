"""A faithful mock of the OpenAI HTTP API, for tests and `aipol up`.

Endpoints: `POST /v1/chat/completions` (plain and `stream: true` SSE),
`GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/embeddings`. Responses and
errors have OpenAI's shapes, so the official SDKs parse them; every response
carries `x-mock-backend: <name>` to show which mock served it.

The assistant's reply reflects the request so rewrites can be observed end to
end: `[<name>] <last user message> (system messages: <n>)`.

Token counts are rough, not tiktoken: a text costs ceil(len(text) / 4)
tokens (at least 1 if non-empty); each chat message adds 4 and the prompt 3.

Error injection: request header `x-mock-status: 429|500|503|...` (429 comes
with `retry-after: 1`), or a model named `mock-error-<status>`; request header
`x-mock-delay-ms: N` delays the answer (and each stream chunk).

Standalone: `python -m aipol.sidecar.mocks.openai --port 9000 --name a` or
`--listen a=9000 --listen b=9001` (several mocks in one process). In tests:
`with MockOpenAI("a") as mock: ... mock.url, mock.requests`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import secrets
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")
EMBEDDING_DIMENSIONS = 8
STATUS_MESSAGES = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Unauthorized.", "invalid_request_error", "invalid_api_key"),
    403: ("Forbidden.", "invalid_request_error", None),
    404: ("Not found.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Please try again in 1s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


# -- what the mock received -----------------------------------------------------
@dataclass
class ReceivedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    json: Any  # parsed body, None if absent or not JSON
    chunked: bool  # the body came with transfer-encoding: chunked

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


RECEIVED = web.RequestKey("aipol_mock_received", ReceivedRequest)


# -- helpers ---------------------------------------------------------------------
def count_tokens(text: str) -> int:
    """Rough token count: a quarter of the characters, rounded up."""
    return math.ceil(len(text) / 4) if text else 0


def message_text(content: Any) -> str:
    """Text of a chat message's content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def error_payload(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _split_words(text: str) -> list[str]:
    """Stream deltas: words with their leading space, like a tokenizer would."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]] if words else []


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector derived from the text's SHA-256."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values += [(b - 127.5) / 127.5 for b in digest]
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


# -- the mock -----------------------------------------------------------------------
@dataclass
class MockProvider:
    """The behaviour of one mock backend (no sockets: see `MockOpenAI`)."""

    name: str = "mock"
    require_auth: bool = False  # 401 unless `authorization: Bearer <something>`
    api_key: str | None = None  # if set, the bearer must be exactly this
    models: Sequence[str] | None = None  # known models; None accepts any model
    prefix: str = ""  # serve under this path prefix too (e.g. "/openai" for "/openai/v1/...")
    requests: list[ReceivedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- plumbing ----------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        for root in dict.fromkeys(["", self.prefix.rstrip("/")]):
            app.router.add_post(root + "/v1/chat/completions", self.chat_completions)
            app.router.add_get(root + "/v1/models", self.list_models)
            app.router.add_get(root + "/v1/models/{model:.+}", self.get_model)
            app.router.add_post(root + "/v1/embeddings", self.embeddings)
        return app

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        received = ReceivedRequest(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers={k.lower(): ", ".join(request.headers.getall(k)) for k in request.headers},
            body=body,
            json=parsed,
            chunked="chunked" in request.headers.get("transfer-encoding", "").lower(),
        )
        with self._lock:
            self.requests.append(received)
        request[RECEIVED] = received
        try:
            response = await self._dispatch(request, handler, received)
        except web.HTTPException as exc:
            response = self.error(
                exc.status,
                f"Invalid URL ({request.method} {request.path})"
                if exc.status in (404, 405)
                else exc.reason,
                "invalid_request_error",
            )
        if not response.prepared:
            response.headers["x-mock-backend"] = self.name
        return response

    async def _dispatch(
        self, request: web.Request, handler: Any, received: ReceivedRequest
    ) -> web.StreamResponse:
        delay = _int(request.headers.get("x-mock-delay-ms"))
        if delay:
            await asyncio.sleep(delay / 1000)
        status = _int(request.headers.get("x-mock-status"))
        if status and status >= 400:
            return self.injected_error(status)
        auth = self._check_auth(request)
        if auth is not None:
            return auth
        return await handler(request)

    def error(
        self,
        status: int,
        message: str,
        type_: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        return web.json_response(
            error_payload(message, type_, param, code),
            status=status,
            headers={"x-mock-backend": self.name, **(headers or {})},
        )

    def injected_error(self, status: int) -> web.Response:
        message, type_, code = STATUS_MESSAGES.get(
            status, ("Injected error.", "server_error", None)
        )
        headers = {"retry-after": "1"} if status == 429 else None
        return self.error(status, message, type_, None, code, headers)

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if not self.require_auth and self.api_key is None:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            )
        if self.api_key is not None and token.strip() != self.api_key:
            return self.error(
                401,
                "Incorrect API key provided.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        return None

    def _check_model(self, model: Any) -> web.Response | None:
        if not isinstance(model, str) or not model:
            return self.error(
                400,
                "you must provide a model parameter",
                "invalid_request_error",
                "model",
                "missing_required_parameter",
            )
        if model.startswith("mock-error-"):
            status = _int(model.removeprefix("mock-error-"))
            if status and status >= 400:
                return self.injected_error(status)
        if self.models is not None and model not in self.models:
            return self.error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                None,
                "model_not_found",
            )
        return None

    def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        received = request[RECEIVED]
        if not isinstance(received.json, dict):
            return self.error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
                "invalid_request_error",
            )
        return received.json

    # -- endpoints ---------------------------------------------------------------
    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        if isinstance(body, web.Response):
            return body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.error(
                400,
                "Missing required parameter: 'messages'.",
                "invalid_request_error",
                "messages",
                "missing_required_parameter",
            )
        bad_model = self._check_model(body.get("model"))
        if bad_model is not None:
            return bad_model
        model = body["model"]
        reply, finish_reason = self.reply_for(body)
        prompt_tokens = 3 + sum(
            4 + count_tokens(message_text(m.get("content")))
            for m in messages
            if isinstance(m, dict)
        )
        completion_tokens = count_tokens(reply)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        completion_id = "chatcmpl-" + secrets.token_hex(12)
        created = int(time.time())
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            return await self._stream(
                request, completion_id, created, model, reply, finish_reason, usage, include_usage
            )
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": reply,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": "fp_mock",
            }
        )

    def reply_for(self, body: dict[str, Any]) -> tuple[str, str]:
        """The reply text and finish reason (`length` if max_tokens cut it)."""
        messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        system = sum(1 for m in messages if m.get("role") in ("system", "developer"))
        users = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
        last = users[-1] if users else ""
        reply = f"[{self.name}] {last} (system messages: {system})"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and count_tokens(reply) > limit:
            return reply[: limit * 4], "length"
        return reply, "stop"

    async def _stream(
        self,
        request: web.Request,
        completion_id: str,
        created: int,
        model: str,
        reply: str,
        finish_reason: str,
        usage: dict[str, Any],
        include_usage: bool,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "x-mock-backend": self.name,
            },
        )
        await response.prepare(request)
        delay = (_int(request.headers.get("x-mock-delay-ms")) or 0) / 1000

        def chunk(choices: list[dict[str, Any]], last_usage: Any = None) -> bytes:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_mock",
                "choices": choices,
            }
            if include_usage:
                data["usage"] = last_usage
            return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

        def delta(d: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]

        await response.write(chunk(delta({"role": "assistant", "content": "", "refusal": None})))
        for piece in _split_words(reply):
            if delay:
                await asyncio.sleep(delay)
            await response.write(chunk(delta({"content": piece})))
        await response.write(chunk(delta({}, finish_reason)))
        if include_usage:
            await response.write(chunk([], usage))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _model_object(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": self.name}

    async def list_models(self, request: web.Request) -> web.Response:
        models = self.models if self.models is not None else DEFAULT_MODELS
        return web.json_response(
            {"object": "list", "data": [self._model_object(m) for m in models]}
        )

    async def get_model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        bad = self._check_model(model)
        return bad if bad is not None else web.json_response(self._model_object(model))

    async def embeddings(self, request: web.Request) -> web.Response:
        body = self._json_body(request)
        if isinstance(body, web.Response):
            return body
        raw = body.get("input")
        if isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(i, str) for i in raw):
            inputs = list(raw)
        elif isinstance(raw, list) and raw and all(isinstance(i, int) for i in raw):
            inputs = [" ".join(map(str, raw))]  # one tokenised input
        elif isinstance(raw, list) and raw and all(isinstance(i, list) for i in raw):
            inputs = [" ".join(map(str, i)) for i in raw]
        else:
            return self.error(
                400,
                "'input' is a required property",
                "invalid_request_error",
                "input",
                "missing_required_parameter" if raw is None else "invalid_type",
            )
        bad_model = self._check_model(body.get("model"))
        if bad_model is not None:
            return bad_model
        dims = body.get("dimensions")
        dims = dims if isinstance(dims, int) and dims > 0 else EMBEDDING_DIMENSIONS
        base64_format = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = fake_embedding(text, dims)
            embedding: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if base64_format
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(count_tokens(t) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# -- serving ----------------------------------------------------------------------
async def start_sites(
    providers: Iterable[tuple[MockProvider, str, int]],
) -> tuple[list[web.AppRunner], list[int]]:
    """Start one listener per (provider, host, port); return runners and bound ports."""
    runners: list[web.AppRunner] = []
    ports: list[int] = []
    for provider, host, port in providers:
        runner = web.AppRunner(provider.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        ports.append(sockets[0].getsockname()[1] if sockets else port)
        runners.append(runner)
    return runners, ports


class MockOpenAI(MockProvider):
    """A `MockProvider` served from a background thread (for tests)."""

    def __init__(
        self,
        name: str = "mock",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = False,
        api_key: str | None = None,
        models: Sequence[str] | None = None,
        prefix: str = "",
    ) -> None:
        super().__init__(
            name=name, require_auth=require_auth, api_key=api_key, models=models, prefix=prefix
        )
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def last(self) -> ReceivedRequest:
        with self._lock:
            return self.requests[-1]

    def start(self) -> MockOpenAI:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                runners, ports = loop.run_until_complete(
                    start_sites([(self, self.host, self.port)])
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            self.port = ports[0]
            self._stopped = asyncio.Event()
            ready.set()
            loop.run_until_complete(self._stopped.wait())
            for runner in runners:
                loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"mock-openai-{self.name}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> MockOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mock OpenAI-compatible provider(s).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="port of a single mock")
    parser.add_argument("--name", default="mock", help="name of a single mock")
    parser.add_argument(
        "--listen", action="append", default=[], metavar="NAME=PORT", help="repeatable"
    )
    parser.add_argument("--require-auth", action="store_true")
    parser.add_argument("--api-key")
    parser.add_argument("--models", help="comma-separated list of known models")
    args = parser.parse_args(argv)
    pairs = [tuple(item.split("=", 1)) for item in args.listen]
    if args.port is not None:
        pairs.append((args.name, str(args.port)))
    if not pairs:
        parser.error("give --port or at least one --listen NAME=PORT")
    models = args.models.split(",") if args.models else None

    async def serve() -> None:
        providers = [
            (
                MockProvider(
                    name=name, require_auth=args.require_auth, api_key=args.api_key, models=models
                ),
                args.host,
                int(port),
            )
            for name, port in pairs
        ]
        runners, ports = await start_sites(providers)
        for (provider, host, _), port in zip(providers, ports, strict=True):
            print(f"mock {provider.name} on http://{host}:{port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            for runner in runners:
                await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
