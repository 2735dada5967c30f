"""`evaluate serve`: any local runner profile behind an OpenAI-compatible API on loopback, so a
team's own tools (and evals' hosted adapter) can talk to a bundled model.

Endpoints: GET /v1/models, GET /health, POST /v1/chat/completions (streaming too) and
POST /v1/completions (with `echo` + `logprobs` for prompt log-probs).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Sequence

from evals.errors import UsageError
from evals.requests import Request
from evals.serve_api import (ApiError, chat_body, chat_chunks, chat_request, completion_body, completion_prompt,
                             echo_body, generation_params)
from evals.serve_worker import ModelWorker, Work

MAX_BODY = 8 * 2**20


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="runner profile name (evaluate list models) or hf:PATH")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--served-name", help="model id clients send (default: the profile name)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"])
    p.add_argument("--batch-size", type=int, help="most requests batched into one forward pass")
    p.add_argument("--max-length", type=int, help="cap on tokens per sequence")
    p.add_argument("--seed", type=int, default=1234, help="seed for sampled generation (default 1234)")
    p.add_argument("--api-key-env", help="require 'Authorization: Bearer $VAR' (the variable's name, not the key)")
    return p


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], worker: ModelWorker, served_name: str, max_length: int,
                 api_key: str | None) -> None:
        super().__init__(address, Handler)
        self.worker = worker
        self.served_name = served_name
        self.max_length = max_length
        self.api_key = api_key


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet by default)
        if os.environ.get("EVALS_SERVE_LOG"):
            super().log_message(format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        key = self.server.api_key
        if key and self.headers.get("authorization", "") != f"Bearer {key}":
            self._send(401, ApiError(401, "missing or wrong API key", "authentication_error").body())
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif self.path.rstrip("/") == "/v1/models" and self._authorised():
            self._send(200, {"object": "list", "data": [{"id": self.server.served_name, "object": "model",
                                                          "owned_by": "evals"}]})
        elif self.path.rstrip("/") != "/v1/models":
            self._send(404, ApiError(404, f"no such endpoint: GET {self.path}", "not_found_error").body())

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorised():
            return
        try:
            body = self._body()
            model = body.get("model")
            if model not in (None, self.server.served_name):
                raise ApiError(404, f"model {model!r} is not served here; this server serves {self.server.served_name!r}",
                               "not_found_error")
            route = self.path.rstrip("/")
            if route == "/v1/chat/completions":
                self._chat(body)
            elif route == "/v1/completions":
                self._completion(body)
            else:
                raise ApiError(404, f"no such endpoint: POST {self.path}", "not_found_error")
        except ApiError as exc:
            self._send(exc.status, exc.body())
        except Exception as exc:  # the model broke on this request; the server carries on
            self._send(500, ApiError(500, f"{type(exc).__name__}: {exc}", "server_error").body())

    def _body(self) -> dict[str, Any]:
        size = int(self.headers.get("content-length") or 0)
        if size > MAX_BODY:
            raise ApiError(413, "request body too large")
        try:
            body = json.loads(self.rfile.read(size) or b"{}")
        except ValueError:
            raise ApiError(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    def _chat(self, body: dict[str, Any]) -> None:
        req = chat_request(body, self.server.max_length)
        resp = self.server.worker.submit(Work("generate", req)).result()
        if body.get("stream"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(chat_chunks(self.server.served_name, resp, with_usage))
        else:
            self._send(200, chat_body(self.server.served_name, resp))

    def _completion(self, body: dict[str, Any]) -> None:
        prompt = completion_prompt(body)
        name = self.server.served_name
        if body.get("echo") and body.get("logprobs") is not None:
            max_tokens = int(body.get("max_tokens", 16) or 0)
            if max_tokens > 1:
                raise ApiError(400, "echo with logprobs is served for max_tokens 0 or 1 (prompt scoring)")
            top = int(body.get("logprobs") or 1)
            lp = self.server.worker.submit(Work("echo", text=prompt, top_n=top)).result()
            self._send(200, echo_body(name, prompt, lp, max_tokens))
            return
        req = Request(kind="generate", prompt=prompt, params=generation_params(body, self.server.max_length))
        resp = self.server.worker.submit(Work("generate", req)).result()
        text = (prompt if body.get("echo") else "") + resp.text
        if body.get("stream"):
            chunk = completion_body(name, text, resp.finish_reason, resp.tokens_in, resp.tokens_out)
            chunk["object"] = "text_completion.chunk"
            self._stream([chunk])
        else:
            self._send(200, completion_body(name, text, resp.finish_reason, resp.tokens_in, resp.tokens_out))

    def _stream(self, chunks: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for c in chunks:
            self.wfile.write(f"data: {json.dumps(c, ensure_ascii=False)}\n\n".encode("utf-8"))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def _check_loopback(host: str) -> None:
    try:
        loop = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loop = host == "localhost"
    if not loop:
        raise UsageError(f"--host {host}: evaluate serve binds loopback only (127.0.0.1, ::1 or localhost)")


def make_server(adapter: Any, host: str, port: int, served_name: str, api_key: str | None = None) -> Server:
    """A server around an already loaded adapter (tests and `main` both use this)."""
    _check_loopback(host)
    if not hasattr(adapter, "tokenizer"):
        raise UsageError(f"evaluate serve needs a local model (adapter {adapter.name!r} is not one)")
    worker = ModelWorker(adapter, max_batch=int(getattr(adapter, "batch_size", 16) or 16))
    return Server((host, port), worker, served_name, int(getattr(adapter, "max_length", 2048)), api_key)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    _check_loopback(args.host)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be 0 to 65535")
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {args.api_key_env}: that environment variable is empty")
    from evals.adapters import load_adapter
    from evals.runners import resolve_profile

    profile = resolve_profile(args.model)
    if profile.adapter != "hf":
        raise UsageError(f"evaluate serve: {args.model!r} is not a local model (adapter {profile.adapter!r})")
    adapter = load_adapter(profile, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                           seed=args.seed, max_length=args.max_length)
    try:
        server = make_server(adapter, args.host, args.port, args.served_name or profile.name, key)
    except OSError as exc:
        raise UsageError(f"--port {args.port}: cannot listen there ({exc.strerror})") from None
    host, port = server.server_address[:2]
    print(f"evaluate serve: {profile.name} on http://{host}:{port}/v1 (model id {server.served_name!r}); "
          f"Ctrl-C to stop", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.worker.stop()
    print("evaluate serve: stopped", file=sys.stderr)
    return 0
