"""What a build costs: load time, time to first token, prefill and decode throughput at batch 1 and
at the best batch of (1, 4, 16), peak memory, and the hardware it ran on.

Local builds are timed in process (greedy decoding with the KV cache, the same loop the adapter
uses, `torch.cuda.synchronize` around every timing on GPUs); hosted builds from the client side,
over HTTP, with 1-token and N-token completions sent B at a time. Each figure is the best of
`repeats` runs after one warm-up, which is what a steady service sees.
"""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

BATCHES = (1, 4, 16)
PROMPT_TOKENS = 128
NEW_TOKENS = 32


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def hardware_manifest() -> dict[str, Any]:
    """CPU model and cores, GPUs and driver, and the versions of the software that ran the builds."""
    from evals import __version__
    from evals.fingerprint import hardware

    info = hardware()
    out: dict[str, Any] = {"cpu": info.get("cpu"), "machine": info.get("machine"), "cpu_count": info.get("cpu_count"),
                           "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                           "memory_gb": _memory_gb(), "gpus": [], "gpu_driver": None}
    try:
        import torch

        if torch.cuda.is_available():
            out["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            out["cuda"] = torch.version.cuda
    except ImportError:
        pass
    if out["gpus"]:
        out["gpu_driver"] = _nvidia_driver()
    out["software"] = {"python": platform.python_version(), "evals": __version__, "torch": _version("torch"),
                       "transformers": _version("transformers"), "llama_cpp": _version("llama_cpp_python"),
                       "numpy": _version("numpy"), "platform": platform.platform()}
    return out


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _nvidia_driver() -> str | None:
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        for word in text.split():
            if word.count(".") >= 1 and word.replace(".", "").isdigit():
                return word
    except OSError:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def rss_mb() -> float | None:
    """Resident memory of this process now (MB)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def memory_mark(build_device: str | None) -> dict[str, Any]:
    """Taken before a build loads, so its own share can be told apart from what was loaded before."""
    mark: dict[str, Any] = {"rss_mb": rss_mb()}
    if build_device and str(build_device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        mark["cuda_mb"] = torch.cuda.memory_allocated() / 2**20
    return mark


def memory_figures(build: Any, mark: dict[str, Any]) -> dict[str, Any]:
    device = str(build.settings().get("device") or "")
    if device.startswith("cuda"):
        import torch

        peak = torch.cuda.max_memory_allocated() / 2**20
        return {"kind": "cuda max_memory_allocated", "peak_mb": round(peak, 1),
                "build_peak_mb": round(peak - mark.get("cuda_mb", 0.0), 1)}
    if device == "remote":
        return {"kind": "remote", "note": "served elsewhere: memory is the server's"}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now, before = rss_mb(), mark.get("rss_mb")
    return {"kind": "rss", "peak_mb": round(peak, 1),
            "build_rss_mb": round(now - before, 1) if now is not None and before is not None else None,
            "note": "peak RSS is the whole process (the reference stays loaded beside each candidate)"}


def _best(rows: dict[int, dict[str, Any]], key: str) -> int | None:
    good = [b for b, r in rows.items() if r.get(key)]
    return max(good, key=lambda b: rows[b][key]) if good else None


def _summary(rows: dict[int, dict[str, Any]], load_s: float | None, ttft: float | None, L: int, N: int,
             method: str, notes: list[str]) -> dict[str, Any]:
    best = _best(rows, "decode_tok_s")
    out: dict[str, Any] = {"method": method, "load_seconds": None if load_s is None else round(load_s, 3),
                           "ttft_s": None if ttft is None else round(ttft, 4), "prompt_tokens": L, "new_tokens": N,
                           "batch_1": rows.get(1, {}), "best_batch": ({"batch": best, **rows[best]} if best else {}),
                           "by_batch": {str(b): r for b, r in rows.items()}}
    if notes:
        out["notes"] = notes
    return out


SLOW_S = 60.0  # a batch whose timing took longer than this is the last one tried (slow builds on CPUs)


def measure_local(build: Any, prompt_ids: list[int], batches: tuple[int, ...] = BATCHES,
                  new_tokens: int = NEW_TOKENS, repeats: int = 2) -> dict[str, Any]:
    """Timings of a local build on one prompt of `len(prompt_ids)` tokens, repeated B times.
    Batch 1 is the best of `repeats`; larger batches are timed once."""
    from evals.adapters.greedy import greedy_decode

    a = build.inner
    torch, model = a.torch, a.model
    cuda = str(a.device).startswith("cuda")
    pad = int(a.tokenizer.pad_token_id if a.tokenizer.pad_token_id is not None else 0)
    L = len(prompt_ids)

    def timed(B: int, n: int) -> float:
        best = float("inf")
        for _ in range(repeats if B == 1 else 1):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            greedy_decode(model, [prompt_ids] * B, n, [], pad)  # no end token: exactly n tokens a row
            if cuda:
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        return best

    timed(1, 2)  # warm-up: first calls allocate and pick kernels
    rows: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    ttft = None
    spent = 0.0
    for B in batches:
        if rows and spent > SLOW_S:
            notes.append(f"batch {B} not tried: batch {max(rows)} took {spent:.0f} s")
            break
        try:
            t0 = time.perf_counter()
            first = timed(B, 1)
            whole = timed(B, new_tokens)
            spent = time.perf_counter() - t0
        except RuntimeError as exc:
            if "out of memory" not in str(exc).lower():
                raise
            notes.append(f"batch {B}: out of memory")
            if cuda:
                torch.cuda.empty_cache()
            break
        if B == 1:
            ttft = first
        decode = whole - first
        rows[B] = {"prefill_tok_s": round(B * L / first, 1),
                   "decode_tok_s": round(B * (new_tokens - 1) / decode, 1) if decode > 0 else None}
    return _summary(rows, build.load_seconds, ttft, L, new_tokens, "in process, greedy with KV cache", notes)


def measure_hosted(build: Any, prompt: str, batches: tuple[int, ...] = BATCHES, new_tokens: int = NEW_TOKENS,
                   repeats: int = 2) -> dict[str, Any]:
    """Client-side timings of a hosted build: B concurrent 1-token and N-token completions."""
    import asyncio
    from dataclasses import replace

    from evals.adapters.http_client import EndpointClient

    inner = build.inner
    rows: dict[int, dict[str, Any]] = {}
    state: dict[str, Any] = {"ttft": None, "prompt_tokens": None}

    async def main() -> None:
        client = EndpointClient(replace(inner.config, max_concurrency=max(batches)))

        async def wave(B: int, n: int) -> tuple[float, int, int]:
            body = {"model": inner.model_name, "prompt": prompt, "max_tokens": n, "temperature": 0}
            best = (float("inf"), 0, 0)
            for _ in range(repeats):
                t0 = time.perf_counter()
                res = await asyncio.gather(*(client.post("completions", body) for _ in range(B)))
                dt = time.perf_counter() - t0
                usage = [r.body.get("usage") or {} for r in res]
                if dt < best[0]:
                    best = (dt, sum(int(u.get("prompt_tokens") or 0) for u in usage),
                            sum(int(u.get("completion_tokens") or 0) for u in usage))
            return best

        try:
            await wave(1, 1)
            for B in batches:
                first, t_in, _ = await wave(B, 1)
                whole, _, t_out = await wave(B, new_tokens)
                if B == 1:
                    state["ttft"], state["prompt_tokens"] = first, t_in
                decode = whole - first
                rows[B] = {"prefill_tok_s": round(t_in / first, 1) if t_in else None,
                           "decode_tok_s": round((t_out - B) / decode, 1) if decode > 0 and t_out > B else None}
        finally:
            await client.close()

    asyncio.run(main())
    return _summary(rows, None, state["ttft"], state["prompt_tokens"] or 0, new_tokens,
                    "client side over HTTP (includes network and queueing)", [])
