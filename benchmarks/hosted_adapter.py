"""How many requests the hosted adapter keeps in flight, and what it costs per request.

A fake OpenAI-compatible server in its own process answers every request after a fixed delay
(as a busy model server would) and counts concurrent requests. The same requests go through
(a) the evals openai adapter and (b) a bare httpx.AsyncClient with a semaphore, the least any
async client can do. The adapter's own overhead is its extra wall time and CPU time per request.

    python benchmarks/hosted_adapter.py [--requests 3000] [--concurrency 64] [--delay 0.05]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import time


def _serve(delay: float, cmd_q: mp.Queue, reply_q: mp.Queue) -> None:
    """A minimal asyncio HTTP/1.1 server (keep-alive, content-length bodies): cheap enough per
    request that the client, not the server, is what is measured."""
    import threading

    state = {"in_flight": 0, "max_in_flight": 0, "requests": 0}
    body = json.dumps({"choices": [{"index": 0, "text": " fine.", "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 8, "completion_tokens": 2}}).encode()
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(body)).encode()
            + b"\r\n\r\n")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                state["requests"] += 1
                state["in_flight"] += 1
                state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
                await asyncio.sleep(delay)
                state["in_flight"] -= 1
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024))
    reply_q.put(server.sockets[0].getsockname()[1])
    threading.Thread(target=loop.run_forever, daemon=True).start()
    while True:
        cmd = cmd_q.get()
        if cmd == "reset":
            state.update(max_in_flight=0, requests=0)
            reply_q.put("ok")
        elif cmd == "read":
            reply_q.put(dict(state))
        else:
            break


def _ask(cmd_q: mp.Queue, reply_q: mp.Queue, cmd: str):
    cmd_q.put(cmd)
    return reply_q.get(timeout=60)


def run_adapter(url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    from evals.adapters.openai import OpenAIAdapter
    from evals.requests import Request
    from evals.runners import RunnerProfile

    profile = RunnerProfile(name="bench", adapter="openai", model={"name": "fake"},
                            settings={"base_url": url, "max_concurrency": concurrency, "completions": True,
                                      "logprobs": True})
    adapter = OpenAIAdapter(profile)
    reqs = [Request(kind="generate", prompt=f"Request {i}: say something.",
                    params=(("max_new_tokens", 16), ("stop", ()), ("temperature", 0.0))) for i in range(n)]
    c0, t0 = time.process_time(), time.perf_counter()
    got = sum(len(batch) for batch in adapter.run(reqs))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert got == n and adapter.stats["failures"] == 0
    return wall, cpu, adapter.stats["max_in_flight"]


def run_bare(url: str, n: int, concurrency: int) -> tuple[float, float]:
    import httpx

    async def main() -> None:
        sem = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=url + "/", limits=httpx.Limits(max_connections=concurrency),
                                     timeout=60) as client:
            async def one(i: int) -> None:
                async with sem:
                    r = await client.post("completions", json={"model": "fake", "prompt": f"Request {i}: say something.",
                                                                 "max_tokens": 16, "temperature": 0})
                    r.raise_for_status()
                    r.json()
            await asyncio.gather(*(one(i) for i in range(n)))

    c0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--delay", type=float, default=0.05, help="server seconds per request")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    cmd_q, reply_q = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_serve, args=(args.delay, cmd_q, reply_q), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{reply_q.get(timeout=60)}/v1"
    try:
        run_bare(url, 200, args.concurrency)  # warm up both paths
        run_adapter(url, 200, args.concurrency)
        _ask(cmd_q, reply_q, "reset")
        bare_wall, bare_cpu = run_bare(url, args.requests, args.concurrency)
        bare_stats = _ask(cmd_q, reply_q, "read")
        _ask(cmd_q, reply_q, "reset")
        ad_wall, ad_cpu, client_max = run_adapter(url, args.requests, args.concurrency)
        ad_stats = _ask(cmd_q, reply_q, "read")
    finally:
        cmd_q.put("stop")
        proc.join(timeout=10)
    n = args.requests
    print(json.dumps({
        "requests": n, "concurrency": args.concurrency, "server_delay_s": args.delay, "cpus": os.cpu_count(),
        "adapter_max_in_flight_at_server": ad_stats["max_in_flight"], "adapter_max_in_flight_client": client_max,
        "bare_max_in_flight_at_server": bare_stats["max_in_flight"],
        "server_requests_seen": ad_stats["requests"],
        "adapter_req_per_s": round(n / ad_wall, 1), "bare_req_per_s": round(n / bare_wall, 1),
        "ideal_req_per_s": round(args.concurrency / args.delay, 1),
        "adapter_wall_overhead_ms_per_req": round(1000 * (ad_wall - bare_wall) / n, 3),
        "adapter_cpu_ms_per_req": round(1000 * ad_cpu / n, 3), "bare_cpu_ms_per_req": round(1000 * bare_cpu / n, 3),
        "adapter_extra_cpu_ms_per_req": round(1000 * (ad_cpu - bare_cpu) / n, 3),
    }))


if __name__ == "__main__":
    main()
