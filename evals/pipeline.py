"""One run, top to bottom: suite → items → requests → adapter → scorers → records → report."""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from evals.adapters import Adapter, load_adapter
from evals.distributed import ShardedLog, World, finish, open_records, world_from_env
from evals.errors import UsageError
from evals.fingerprint import canonical_hash, environment, suite_hash
from evals.items import Item, load_items
from evals.paths import cache_dir
from evals.prompts import PromptBuilder, split_fewshot
from evals.report import build_report
from evals.requests import Request, Response
from evals.runners import resolve_profile
from evals.scoring import make_scorer
from evals.store import RecordLog, ResponseCache, atomic_write_json, atomic_write_text
from evals.suites import Catalog, load_catalog
from evals.tasks import TaskSpec


@dataclass
class RunConfig:
    model: str
    suite: str
    tasks: list[str] | None = None
    limit: int | None = None
    batch_size: int | str | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int = 1234
    output_dir: str = "results"
    use_cache: bool = True
    data_dir: str | None = None
    max_length: int | None = None
    progress: bool = True
    judge: str | None = None  # overrides the judge of every judged scorer (refusal, content)
    base_url: str | None = None  # hosted models (openai adapter) only
    max_concurrency: int | None = None
    timeout_s: float | None = None


@dataclass
class PlannedTask:
    spec: TaskSpec
    weight: float
    items: list[Item]
    fewshot: list[Item]
    items_total: int
    scorers: list[Any] = field(default_factory=list)
    bank_meta: list[dict[str, Any]] = field(default_factory=list)  # every item's meta, before --limit


def plan_tasks(catalog: Catalog, config: RunConfig) -> tuple[Any, list[PlannedTask], str]:
    """Validate and load everything the run needs before any model is loaded."""
    suite = catalog.suite(config.suite)
    chosen = catalog.suite_tasks(suite)
    if config.tasks:
        names = {t.name for t, _ in chosen}
        for name in config.tasks:
            if name not in names:
                from evals.registry import did_you_mean

                raise UsageError(f"--tasks: {name!r} is not in suite {suite.name!r}"
                                 f"{did_you_mean(name, sorted(names))}")
        chosen = [(t, w) for t, w in chosen if t.name in config.tasks]
    data_dir = Path(config.data_dir) if config.data_dir else None
    planned: list[PlannedTask] = []
    blobs: list[dict[str, Any]] = []
    for spec, weight in chosen:
        items = load_items(spec.items, f"{spec.path}: field 'items'", data_dir)
        if "attacks" in spec.items:
            from evals.safety.attack_items import expand_attacks

            items = expand_attacks(spec.items, items, f"{spec.path}: field 'items'", config.seed)
        if spec.perturb or spec.circular:  # adaptation suite: noisy inputs, rotated options
            from evals.adaptation.task_items import apply_task_transforms

            items = apply_task_transforms(spec, items, f"{spec.path}: field 'items'")
        if not items:
            raise UsageError(f"{spec.path}: task {spec.name!r} has no items")
        pool = None
        if "source" in spec.fewshot:
            pool = load_items({"path": spec.fewshot["source"]}, f"{spec.path}: field 'fewshot'", data_dir)
        shots, test_items = split_fewshot(spec, items, config.seed, pool)
        blobs.append({"task": spec.name, "spec": spec.raw, "items": [it.as_dict() for it in items],
                      "fewshot": [it.as_dict() for it in shots]})
        total = len(test_items)
        bank_meta = [it.meta for it in test_items]
        if config.limit is not None and config.limit < total:
            test_items = limit_items(test_items, config.limit, config.seed)
        scorers = [make_scorer(s.name, _with_judge(s.name, s.args, config.judge), f"{spec.path}: field 'scorers'")
                   for s in spec.scorers]
        for scorer in scorers:  # a scorer may reject a malformed bank before anything is generated
            check = getattr(scorer, "check_items", None)
            if check is not None:
                check(items, f"{spec.path}: field 'items'")
        planned.append(PlannedTask(spec, weight, test_items, shots, total, scorers, bank_meta))
    return suite, planned, suite_hash(blobs)


JUDGED_SCORERS = ("refusal", "content")


def _with_judge(name: str, args: dict[str, Any], judge: str | None) -> dict[str, Any]:
    return args | {"judge": judge} if judge and name in JUDGED_SCORERS else args


def limit_items(items: list[Item], limit: int, seed: int) -> list[Item]:
    """A seeded sample of at most `limit` items that keeps declared groups whole (a counterfactual
    pair, the four conditions of a bias template), so paired metrics stay computable."""
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(str(it.meta.get("group") or f"\0{it.id}"), []).append(i)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    keep: set[int] = set()
    for g in order:
        if keep and len(keep) + len(groups[g]) > limit:
            continue
        keep.update(groups[g])
        if len(keep) >= limit:
            break
    return [it for i, it in enumerate(items) if i in keep]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "model"


def evaluate(model: str, suite: str, *, adapter: Adapter | None = None,
             on_progress: Callable[[int, int], None] | None = None, **options: Any) -> dict[str, Any]:
    """Run a suite against a model and return the report (also written to the run directory)."""
    config = RunConfig(model=model, suite=suite, **options)
    return Run(config, adapter=adapter, on_progress=on_progress).execute()


class Run:
    def __init__(self, config: RunConfig, adapter: Adapter | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        self.config = config
        self.adapter = adapter
        self.on_progress = on_progress
        self.counters = {"items": 0, "items_resumed": 0, "requests": 0, "requests_from_cache": 0,
                         "requests_to_model": 0, "errors": 0}

    def execute(self) -> dict[str, Any]:
        cfg = self.config
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        catalog = load_catalog()
        suite, planned, s_hash = plan_tasks(catalog, cfg)
        profile = resolve_profile(cfg.model)
        world = world_from_env()
        device = world.device_for(cfg.device)
        world.start(device)
        if world.rank != 0:
            cfg.progress = False
        if self.adapter is None:
            hosted = {k: v for k, v in (("base_url", cfg.base_url), ("max_concurrency", cfg.max_concurrency),
                                        ("timeout_s", cfg.timeout_s)) if v is not None}
            if hosted and profile.adapter != "openai":
                names = {"base_url": "--base-url", "max_concurrency": "--max-concurrency", "timeout_s": "--timeout"}
                flags = ", ".join(names[k] for k in hosted)
                raise UsageError(f"{flags}: only for hosted models (openai:NAME or an openai runner profile)")
            self.adapter = load_adapter(profile, device=device, dtype=cfg.dtype, batch_size=cfg.batch_size,
                                        seed=cfg.seed, max_length=cfg.max_length, **hosted)
        adapter = self.adapter
        settings = adapter.settings()
        from evals.adaptation.long_context import fit_context

        fit_context(planned, adapter)  # long-context items that would not fit the model's window are skipped
        dev = settings.get("device")
        if world.active and isinstance(dev, str):
            dev = dev.split(":")[0]  # cuda:0 and cuda:1 of one data-parallel run are one run
        identity = {"suite_hash": s_hash, "model": adapter.fingerprint, "dtype": settings.get("dtype"),
                    "device": dev, "max_length": settings.get("max_length"),
                    "seed": cfg.seed, "limit": cfg.limit, "tasks": sorted(p.spec.name for p in planned),
                    **({"judge": cfg.judge} if cfg.judge else {})}
        run_key = canonical_hash(identity).split(":")[1][:10]
        run_dir = Path(cfg.output_dir) / f"{_slug(profile.name)}__{_slug(suite.name)}__{run_key}"
        cache_model = canonical_hash({k: identity[k] for k in ("model", "dtype", "device", "max_length")})
        records = open_records(world, run_dir)
        cache = ResponseCache(cache_dir() / "responses.sqlite", enabled=cfg.use_cache)
        try:
            self._run_items(planned, adapter, records, cache, cache_model, world)
        finally:
            records.close()
            cache.close()
        if world.active:
            merged = finish(world, run_dir, self.counters)
            world.stop()
            if merged is None:  # ranks other than 0: rank 0 writes the report
                return {"shard": world.rank, "run": {"dir": str(run_dir)}, "counters": self.counters}
            records = merged
        report = build_report(
            run={"id": f"{started.strftime('%Y-%m-%dT%H-%M-%S')}_{_slug(profile.name)}_{_slug(suite.name)}",
                 "dir": str(run_dir), "key": run_key, "started": started.isoformat(timespec="seconds"),
                 "seconds": round(time.perf_counter() - t0, 3), "limit": cfg.limit},
            model={"name": profile.name, "adapter": adapter.name, "fingerprint": adapter.fingerprint,
                   "settings": settings},
            suite=suite, suite_hash=s_hash, planned=planned, records=records, seed=cfg.seed,
            standard=catalog.standard(suite.standard, str(suite.path)) if suite.standard else None,
            environment=environment(), efficiency=adapter.efficiency(), counters=self.counters,
        )
        atomic_write_json(run_dir / "report.json", report)
        from evals.render.markdown import render_markdown

        atomic_write_text(run_dir / "report.md", render_markdown(report))
        from evals.render.html import render_html

        atomic_write_text(run_dir / "report.html", render_html(report, records.records.values()))
        return report

    def _run_items(self, planned: list[PlannedTask], adapter: Adapter, records: RecordLog | ShardedLog,
                   cache: ResponseCache, cache_model: str, world: World | None = None) -> None:
        cfg = self.config
        # Per (task, item): its requests; all unique requests of the run in one list for the adapter.
        pending: list[tuple[PlannedTask, Item, list[Request]]] = []
        for task in planned:
            use_chat = task.spec.chat == "true" or (task.spec.chat == "auto" and adapter.supports_chat)
            builder = PromptBuilder(task.spec, use_chat, task.fewshot)
            for item in task.items:
                self.counters["items"] += 1
                if records.done(task.spec.name, item.id):
                    self.counters["items_resumed"] += 1
                    continue
                pending.append((task, item, builder.requests(item)))
        if world is not None and world.active:  # every N-th unfinished item is this process's
            pending = pending[world.rank::world.size]
        unique: dict[str, Request] = {}
        for _, _, reqs in pending:
            for r in reqs:
                unique.setdefault(r.key, r)
        self.counters["requests"] = len(unique)
        answered: dict[str, Response] = {}
        for key, data in cache.get_many(cache_model, unique).items():
            answered[key] = Response.from_json(data)
        self.counters["requests_from_cache"] = len(answered)
        waiting: dict[str, set[int]] = {}
        for n, (_, _, reqs) in enumerate(pending):
            for r in reqs:
                if r.key not in answered:
                    waiting.setdefault(r.key, set()).add(n)
        remaining = [len({r.key for r in reqs if r.key not in answered}) for _, _, reqs in pending]
        for n, left in enumerate(remaining):
            if left == 0:
                self._record(records, *pending[n], answered)
        todo = [unique[k] for k in waiting]
        bar = _progress(len(todo), cfg.progress)
        done = 0
        try:
            for batch in adapter.run(todo) if todo else []:
                fresh = []
                for idx, resp in batch:
                    key = todo[idx].key
                    answered[key] = resp
                    if resp.error is None:
                        fresh.append((key, resp.to_json()))
                cache.put_many(cache_model, fresh)
                self.counters["requests_to_model"] += len(batch)
                for idx, _ in batch:
                    for n in sorted(waiting.get(todo[idx].key, ())):
                        remaining[n] -= 1
                        if remaining[n] == 0:
                            self._record(records, *pending[n], answered)
                records.sync()
                done += len(batch)
                if bar is not None:
                    bar.update(len(batch))
                if self.on_progress:
                    self.on_progress(done, len(todo))
        finally:
            if bar is not None:
                bar.close()

    def _record(self, records: RecordLog | ShardedLog, task: PlannedTask, item: Item, reqs: list[Request],
                answered: dict[str, Response]) -> None:
        resps = [answered[r.key] for r in reqs]
        rec: dict[str, Any] = {"task": task.spec.name, "item_id": item.id, "meta": item.meta, "target": item.target,
                               "prompt": resps[0].prompt_sent if resps else "",
                               "latency_s": round(max((r.latency_s for r in resps), default=0.0), 4),
                               "tokens_in": sum(r.tokens_in for r in resps),
                               "tokens_out": sum(r.tokens_out for r in resps)}
        costs = [r.extra["cost"] for r in resps if "cost" in r.extra]
        if costs:
            rec["cost"] = round(sum(costs), 8)
        ttfts = [r.extra["ttft_s"] for r in resps if "ttft_s" in r.extra]
        if ttfts:
            rec["ttft_s"] = max(ttfts)
        if any(r.extra.get("fallback") for r in resps):
            rec["fallback"] = resps[0].extra["fallback"]
        if task.spec.kind == "loglikelihood":
            rec["choices"] = item.choices
            rec["continuations"] = [r.continuation for r in reqs]
        else:
            rec["response"] = resps[0].text if len(resps) == 1 else [r.text for r in resps]
            rec["finish_reason"] = resps[0].finish_reason if resps else ""
        errors = [r.error for r in resps if r.error]
        if errors:
            self.counters["errors"] += 1
            rec.update(error=errors[0], scores={}, parsed=None, why="request failed")
        else:
            values: dict[str, float] = {}
            whys, parsed = [], None
            for scorer in task.scorers:
                s = scorer.score(item, reqs, resps)
                values.update(s.values)
                whys.append(s.why)
                parsed = s.parsed if parsed is None else parsed
                for k, v in s.extra.items():
                    rec.setdefault(k, v)
            rec.update(scores=values, parsed=parsed, why="; ".join(w for w in whys if w))
        records.append(rec)


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="req", desc="evaluating", dynamic_ncols=True, leave=False)
