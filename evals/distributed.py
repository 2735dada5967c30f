"""Data parallel runs: `torchrun --nproc-per-node N -m evals ...` (or `accelerate launch`).

Every process loads the model, takes every N-th pending item, and appends its records to its own
shard file (`records.rank{R}.jsonl`); at the end rank 0 merges the shards into `records.jsonl`
and writes the report. A killed run leaves shard files that the next run merges first, so resume
works as for one process. Items are sharded after the finished ones are taken out, so a resumed
run spreads the remaining work evenly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.store import RecordLog


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    _group: bool = False

    @property
    def active(self) -> bool:
        return self.size > 1

    def device_for(self, requested: str | None) -> str | None:
        """One GPU per process: cuda → cuda:LOCAL_RANK."""
        if self.active and requested in (None, "cuda"):
            import torch

            if torch.cuda.is_available():
                return f"cuda:{self.local_rank}"
        return requested

    def start(self, device: str | None) -> None:
        if not self.active or self._group:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if (device or "").startswith("cuda") else "gloo")
        self._group = True

    def barrier(self) -> None:
        if self._group:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        if not self._group:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def stop(self) -> None:
        if self._group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._group = False


def world_from_env() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return World()
    return World(rank=int(os.environ.get("RANK", "0")), size=size, local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def shard_paths(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("records.rank*.jsonl"))


def merge_shards(records: RecordLog, run_dir: Path) -> int:
    """Appends every shard's records (not already there) to the merged log; removes the shards."""
    added = 0
    for shard in shard_paths(run_dir):
        part = RecordLog(shard)
        part.close()
        for key, rec in part.records.items():
            if key not in records.records:
                records.append(rec)
                added += 1
        records.sync()
        shard.unlink()
    return added


class ShardedLog:
    """What a process of a data-parallel run writes to: its own shard, with the merged log's
    finished items counted as done."""

    def __init__(self, merged: RecordLog, shard: RecordLog) -> None:
        self.merged = merged
        self.shard = shard

    def done(self, task: str, item_id: str) -> bool:
        return self.merged.done(task, item_id) or self.shard.done(task, item_id)

    def append(self, record: dict[str, Any]) -> None:
        self.shard.append(record)

    def sync(self) -> None:
        self.shard.sync()

    def close(self) -> None:
        self.shard.close()
        self.merged.close()


SUMMED = ("requests", "requests_from_cache", "requests_to_model", "errors")


def open_records(world: World, run_dir: Path) -> RecordLog | ShardedLog:
    """The log this process appends to: records.jsonl alone, or its shard beside the merged log."""
    path = run_dir / "records.jsonl"
    if not world.active:
        return RecordLog(path)
    if world.rank == 0:  # leftovers of a killed data-parallel run first, so every rank sees them
        merged = RecordLog(path)
        merge_shards(merged, run_dir)
        merged.close()
    world.barrier()
    return ShardedLog(RecordLog(path), RecordLog(run_dir / f"records.rank{world.rank}.jsonl"))


def finish(world: World, run_dir: Path, counters: dict[str, int]) -> RecordLog | None:
    """After every rank is done: rank 0 gets the merged log (and the summed counters), others None."""
    if not world.active:
        return None
    parts = world.gather(dict(counters))
    for key in SUMMED:
        counters[key] = sum(int(p.get(key, 0)) for p in parts)
    counters["processes"] = world.size
    world.barrier()
    if world.rank != 0:
        return None
    merged = RecordLog(run_dir / "records.jsonl")
    merge_shards(merged, run_dir)
    merged.close()
    return merged
