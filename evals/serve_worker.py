"""One thread owns the model: requests from many HTTP clients queue here and are batched together."""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from evals.requests import Request


@dataclass
class Work:
    kind: str  # "generate" or "echo"
    request: Request | None = None
    text: str = ""
    top_n: int = 1
    future: Future = field(default_factory=Future)


class ModelWorker:
    """Drains the queue into batches (a few milliseconds' wait lets concurrent requests share one)."""

    def __init__(self, adapter: Any, max_batch: int = 32, gather_s: float = 0.005) -> None:
        self.adapter = adapter
        self.max_batch = max_batch
        self.gather_s = gather_s
        self.queue: queue.Queue[Work | None] = queue.Queue()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="evals-serve-model", daemon=True)
        self.thread.start()

    def submit(self, work: Work) -> Future:
        self.queue.put(work)
        return work.future

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.gather_s
            while len(batch) < self.max_batch:
                try:
                    nxt = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self.queue.put(None)
                    break
                batch.append(nxt)
            self._serve([w for w in batch if w.kind == "generate"])
            for w in batch:
                if w.kind == "echo":
                    self._echo(w)

    def _serve(self, works: list[Work]) -> None:
        if not works:
            return
        try:
            for out in self.adapter.run([w.request for w in works]):
                for idx, resp in out:
                    works[idx].future.set_result(resp)
        except Exception as exc:  # the clients get a 500 each; the server keeps running
            for w in works:
                if not w.future.done():
                    w.future.set_exception(exc)

    def _echo(self, work: Work) -> None:
        from evals.adapters.prompt_logprobs import prompt_logprobs

        try:
            work.future.set_result(prompt_logprobs(self.adapter, work.text, work.top_n))
        except Exception as exc:
            work.future.set_exception(exc)
