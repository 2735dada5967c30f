"""Small OpenAI-compatible servers for tests and benchmarks: a deterministic fake model and a
fault-injecting proxy. Real-model tests use llama-cpp-python's server and `evaluate serve`."""
from __future__ import annotations

import hashlib
import http.client
import json
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _h(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16)


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on this request (a timeout, or a killed run): expected here

    def log_message(self, *args: Any) -> None:
        pass

    def send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))


class FakeModel(ThreadingHTTPServer):
    """Answers from a hash of the prompt. `logprobs=False` refuses echo; `completions=False` has no
    /completions at all; `key` demands a bearer token and (carelessly) echoes a wrong one back."""

    daemon_threads = True
    request_queue_size = 512  # hundreds of clients connect at once in the benchmark

    def __init__(self, delay_s: float = 0.0, logprobs: bool = True, completions: bool = True,
                 key: str | None = None, fail_marker: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.delay_s, self.logprobs, self.completions, self.key = delay_s, logprobs, completions, key
        self.fail_marker = fail_marker
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = self.count = 0
        self.bodies: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def fake_answer(prompt: str) -> str:
    n = _h(prompt)
    return ["B", "The answer is 42.", "C", "Answer: 7", "A", "I think it is D."][n % 6]


def fake_echo(prompt: str) -> dict[str, Any]:
    tokens = re.findall(r"\s*\S+|\s+", prompt)
    offsets, lps, tops, at = [], [], [], 0
    for i, t in enumerate(tokens):
        offsets.append(at)
        at += len(t)
        lp = None if i == 0 else -((_h(prompt[:at]) % 1000) / 100.0)
        lps.append(lp)
        tops.append(None if lp is None else {t: lp})
    return {"tokens": tokens, "text_offset": offsets, "token_logprobs": lps, "top_logprobs": tops}


class _FakeHandler(_Quiet):
    server: FakeModel

    def do_POST(self) -> None:  # noqa: N802
        s = self.server
        body = json.loads(self.read_body() or b"{}")
        auth = self.headers.get("authorization", "")
        with s.lock:
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
            s.count += 1
            s.bodies.append(body)
        try:
            if s.delay_s:
                time.sleep(s.delay_s)
            if s.key and auth != f"Bearer {s.key}":
                return self.send_json(401, {"error": {"message": f"bad key in header {auth!r}"}})
            text = body.get("prompt") if "prompt" in body else json.dumps(body.get("messages"), ensure_ascii=False)
            if s.fail_marker and s.fail_marker in str(text):
                return self.send_json(500, {"error": {"message": "this prompt always breaks the server"}})
            usage = {"prompt_tokens": len(str(text)) // 4 + 1, "completion_tokens": 3}
            if self.path.endswith("/chat/completions"):
                msg = {"role": "assistant", "content": fake_answer(str(text))}
                return self.send_json(200, {"choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                                            "usage": usage})
            if not s.completions:
                return self.send_json(404, {"error": {"message": "not found"}})
            if body.get("echo") and body.get("logprobs") is not None:
                if not s.logprobs:
                    return self.send_json(400, {"error": {"message": "echo is not supported"}})
                return self.send_json(200, {"choices": [{"index": 0, "text": body["prompt"] + " x", "finish_reason": "length",
                                                         "logprobs": fake_echo(body["prompt"] + " x")}], "usage": usage})
            return self.send_json(200, {"choices": [{"index": 0, "text": fake_answer(str(text)), "finish_reason": "stop"}],
                                        "usage": usage})
        finally:
            with s.lock:
                s.in_flight -= 1


class FaultProxy(ThreadingHTTPServer):
    """Forwards to `upstream`, but on about `rate` of requests answers 429 (Retry-After), 500,
    hangs past the client's timeout, or drops the connection; seeded, so a test is repeatable."""

    daemon_threads = True

    def __init__(self, upstream: str, rate: float = 0.1, seed: int = 7, hang_s: float = 3.0) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        m = re.match(r"http://([^:/]+):(\d+)(/.*)?", upstream)
        assert m, upstream
        self.host, self.port, self.prefix = m.group(1), int(m.group(2)), (m.group(3) or "").rstrip("/")
        self.rate, self.hang_s = rate, hang_s
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.faults: dict[str, int] = {"429": 0, "500": 0, "hang": 0, "drop": 0, "drop_after": 0}
        self.forwarded: list[bytes] = []
        self.answered: list[bytes] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{self.prefix}"

    def pick(self) -> str | None:
        with self.lock:
            if self.rng.random() >= self.rate:
                return None
            fault = self.rng.choice(["429", "500", "hang", "drop", "drop_after"])
            self.faults[fault] += 1
            return fault

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _ProxyHandler(_Quiet):
    server: FaultProxy

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def _forward(self, method: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        p = self.server
        conn = http.client.HTTPConnection(p.host, p.port, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(method, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        hdrs = {k: v for k, v in r.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
        conn.close()
        return r.status, hdrs, data

    def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._reply(*self._forward("GET", None))

    def do_POST(self) -> None:  # noqa: N802
        p = self.server
        body = self.read_body()
        fault = p.pick()
        if fault == "429":
            return self.send_json(429, {"error": {"message": "rate limited"}}, {"retry-after": "1"})
        if fault == "500":
            return self.send_json(500, {"error": {"message": "upstream hiccup"}})
        if fault == "hang":
            time.sleep(p.hang_s)
            return self._drop()
        if fault == "drop":
            return self._drop()
        with p.lock:
            p.forwarded.append(body)
        status, headers, data = self._forward("POST", body)
        if fault == "drop_after":  # the model did the work, the answer is lost on the way back
            return self._drop()
        with p.lock:
            p.answered.append(body)
        self._reply(status, headers, data)
