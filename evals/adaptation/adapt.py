"""`evaluate adapt`: the adaptation (适配) assessment of one model across builds.

The same items go to a reference build and to each candidate build (another dtype, int8, another
device, a server); per candidate: does it give the same answers (paired agreement, TOST on the
accuracy difference and on refusal drift), how far do its next-token distributions move (top-1
agreement, mean and p99 KL over fixed text), and what does it cost (load, TTFT, prefill and decode
throughput, memory). Outputs `adapt.json`, `adapt.md`, `adapt.html`; exit 0 when every candidate
is equivalent, 1 when one is not or is inconclusive, 2 on usage errors. See docs/adaptation.md.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from evals.adaptation.builds import BuildSpec, parse_spec, slug
from evals.adaptation.verdict import DEFAULTS, TaskInfo, task_info
from evals.errors import UsageError

SCHEMA = "evals.adapt/1"
EPILOG = """SPEC: a runner (evaluate list models), hf:PATH or openai:NAME, then optional ,key=value overrides:
  dtype=float32|bfloat16|float16  device=cpu|cuda|cuda:N  quantize=int8  perturb=0.05 (noise, a negative control)
  base_url=URL (hosted)  batch_size=N  max_length=N

exit codes: 0 every candidate equivalent, 1 a candidate not equivalent or inconclusive (or a runtime
failure), 2 usage or input error.

examples:
  evaluate adapt --reference smollm2-135m --candidate smollm2-135m,dtype=bfloat16 --candidate smollm2-135m,quantize=int8
  evaluate adapt --reference smollm2-135m --candidate llamacpp-smollm2,base_url=http://127.0.0.1:8080/v1 --limit 50
  evaluate adapt --reference smollm2-135m --reference-run results/adapt-X/smollm2-135m --candidate smollm2-135m,device=cuda"""


def _parser() -> argparse.ArgumentParser:
    from evals.cli import _positive_int

    p = argparse.ArgumentParser(prog="evaluate adapt", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Same model, other builds: is each candidate build equivalent to the reference?")
    p.add_argument("--reference", required=True, metavar="SPEC", help="the reference build")
    p.add_argument("--reference-run", metavar="RUN_DIR",
                   help="reuse the reference's answers from an earlier run folder (or an adapt build folder of run folders)")
    p.add_argument("--candidate", required=True, action="append", metavar="SPEC", help="a candidate build (repeatable)")
    p.add_argument("--suite", default="adaptation", help="suite whose tasks (and equivalence_tasks) are run (default adaptation)")
    p.add_argument("--tasks", help="comma-separated subset: task names or SUITE/TASK")
    p.add_argument("--limit", type=_positive_int, help="at most N items per task (a seeded sample)")
    p.add_argument("--output", help="output folder (default results/adapt-<timestamp>)")
    p.add_argument("--batch-size", type=_positive_int, help="requests per forward pass for local builds")
    p.add_argument("--drift-tokens", type=_positive_int, default=512,
                   help="hosted builds: positions sampled for top-k drift (default 512)")
    p.add_argument("--no-efficiency", action="store_true", help="skip the timing and memory measurements")
    p.add_argument("--margin", type=_margin, help="equivalence margin for the accuracy difference (default: the suite's)")
    p.add_argument("--seed", type=int, default=1234, help="seed for --limit, bootstrap and perturb= (default 1234)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _margin(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text!r}")
    return value


# ---- what to run ----------------------------------------------------------------------------
def plan(catalog: Any, suite: Any, wanted: list[str] | None) -> tuple[dict[str, list[str]], list[TaskInfo]]:
    """(suite name → task names, task infos): the suite's tasks, then its `equivalence_tasks`."""
    from evals.registry import did_you_mean

    entries: list[tuple[str, Any]] = [(suite.name, t) for t, _ in catalog.suite_tasks(suite)]
    for ref in getattr(suite, "equivalence_tasks", []) or []:
        s_name, t_name = ref.split("/", 1)
        other = catalog.suite(s_name)
        found = [t for t, _ in catalog.suite_tasks(other) if t.name == t_name]
        if not found:
            raise UsageError(f"{suite.path}: field 'equivalence_tasks': suite {s_name!r} has no task {t_name!r}")
        entries.append((s_name, found[0]))
    seen: set[str] = set()
    entries = [(s, t) for s, t in entries if not (t.name in seen or seen.add(t.name))]
    if wanted:
        names = {t.name for _, t in entries} | {f"{s}/{t.name}" for s, t in entries}
        for w in wanted:
            if w not in names:
                raise UsageError(f"--tasks: {w!r} is not among the equivalence tasks of suite {suite.name!r}"
                                 f"{did_you_mean(w, sorted(names))}")
        entries = [(s, t) for s, t in entries if t.name in wanted or f"{s}/{t.name}" in wanted]
    groups: dict[str, list[str]] = {}
    for s, t in entries:
        groups.setdefault(s, []).append(t.name)
    return groups, [task_info(t, s) for s, t in entries]


def equivalence_config(suite: Any, margin: float | None) -> dict[str, Any]:
    cfg = dict(DEFAULTS) | dict(getattr(suite, "equivalence", {}) or {})
    if margin is not None:
        cfg["margin"] = margin
    cfg["source"] = "--margin" if margin is not None else (str(suite.path) if getattr(suite, "equivalence", None)
                                                             else "defaults")
    return cfg


def read_reference_run(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Records, run summaries and the model block of a run folder, or of every run folder inside one."""
    from evals.runs import load_run

    if not path.exists():
        raise UsageError(f"--reference-run {path}: no such folder")
    folders = [path] if (path / "report.json").is_file() else sorted(p for p in path.iterdir()
                                                                        if (p / "report.json").is_file())
    if not folders:
        raise UsageError(f"--reference-run {path}: no report.json here or in its sub-folders (pass a finished run folder)")
    records: dict[str, dict[str, Any]] = {}
    runs: dict[str, Any] = {}
    model: dict[str, Any] = {}
    for folder in folders:
        run = load_run(folder)
        for task, recs in run.records_by_task().items():
            records.setdefault(task, {}).update(recs)
        runs[run.report["suite"]["name"]] = {"dir": str(folder), "hash": run.suite_hash,
                                            "counters": run.report.get("counters", {})}
        model = run.report["model"]
    return records, runs, model


# ---- one session ----------------------------------------------------------------------------
class Session:
    def __init__(self, args: argparse.Namespace, cfg: dict[str, Any], groups: dict[str, list[str]],
                 infos: list[TaskInfo], passages: list[Any], drift_info: dict[str, Any], out: Path) -> None:
        self.args, self.cfg, self.groups, self.infos = args, cfg, groups, infos
        self.passages, self.drift_info, self.out = passages, drift_info, out
        self.slugs: dict[str, str] = {}

    def folder(self, label: str) -> Path:
        name = slug(label)
        if name in self.slugs.values() and self.slugs.get(label) != name:
            import hashlib

            name = f"{name}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
        self.slugs[label] = name
        return self.out / name

    def _load(self, spec: BuildSpec) -> tuple[Any, dict[str, Any]]:
        from evals.adaptation.builds import load_build
        from evals.adaptation.efficiency import memory_mark

        device = spec.overrides.get("device") or (spec.profile.settings.get("device") if spec.profile else None)
        if spec.local and device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        mark = memory_mark(device if spec.local else None)
        build = load_build(spec, seed=self.args.seed, batch_size=self.args.batch_size)
        return build, mark

    def _evaluate(self, build: Any, folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        from evals.pipeline import evaluate
        from evals.runs import load_run

        records: dict[str, dict[str, Any]] = {}
        runs: dict[str, Any] = {}
        for suite_name, tasks in self.groups.items():
            report = evaluate(build.spec.runner, suite_name, adapter=build, tasks=tasks, limit=self.args.limit,
                              output_dir=str(folder), seed=self.args.seed, use_cache=not self.args.no_cache,
                              progress=not self.args.quiet)
            run = load_run(report["run"]["dir"])
            for task, recs in run.records_by_task().items():
                records.setdefault(task, {}).update(recs)
            runs[suite_name] = {"dir": report["run"]["dir"], "hash": report["suite"]["hash"],
                                "counters": report["counters"]}
        return records, runs

    def _efficiency(self, build: Any, mark: dict[str, Any]) -> dict[str, Any] | None:
        if self.args.no_efficiency:
            return None
        from evals.adaptation import efficiency as eff

        text = "\n\n".join(p.text for p in self.passages[:4]) or ("The quick brown fox jumps over the lazy dog. " * 40)
        try:
            if build.local:
                ids = build.inner.tokenizer(text).input_ids or [0]
                ids = (ids * (eff.PROMPT_TOKENS // len(ids) + 1))[:eff.PROMPT_TOKENS]
                out = eff.measure_local(build, ids)
            else:
                out = eff.measure_hosted(build, text[:eff.PROMPT_TOKENS * 4])
        except Exception as exc:  # a timing failure should not sink the assessment
            return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        out["memory"] = eff.memory_figures(build, mark)
        return out

    def _identity(self, build: Any, runs: dict[str, Any]) -> dict[str, Any]:
        return {"label": build.spec.label, "runner": build.spec.runner, "overrides": build.spec.overrides,
                "adapter": build.name, "fingerprint": build.fingerprint, "settings": build.settings(),
                "load_seconds": round(build.load_seconds, 3), "runs": runs}

    def reference(self, spec: BuildSpec) -> dict[str, Any]:
        from evals.adaptation import drift

        t0 = time.perf_counter()
        ref: dict[str, Any] = {"build": None, "store": None, "drift_note": ""}
        folder = self.folder(spec.label)
        if self.args.reference_run:
            path = Path(self.args.reference_run)
            records, runs, model = read_reference_run(path)
            ref["store"], ref["drift_note"] = drift.load_store([path, path.parent], self.drift_info["hash"]) \
                if self.passages else (None, "no drift text")
            info = {"label": spec.label, "runner": spec.runner, "overrides": spec.overrides,
                    "adapter": model.get("adapter"), "fingerprint": model.get("fingerprint"),
                    "settings": model.get("settings", {}), "runs": runs, "from_run": str(path)}
            if ref["store"] is not None:
                info["drift_reference"] = ref["drift_note"]
            if ref["store"] is None and self.passages and spec.local:  # the model is needed for drift only
                build, mark = self._load(spec)
                ref["build"] = build
                info["efficiency"] = self._efficiency(build, mark)
            else:
                info["efficiency"] = None
        else:
            build, mark = self._load(spec)
            ref["build"] = build
            records, runs = self._evaluate(build, folder)
            info = self._identity(build, runs)
            info["efficiency"] = self._efficiency(build, mark)
        # a loaded local reference writes drift_reference.npz for later --reference-run: filled during
        # the first full comparison (see _drift), or by a pass of its own at the end (finish_reference)
        ref["store_to_write"] = ref["build"] is not None and ref["build"].local and bool(self.passages)
        info["seconds"] = round(time.perf_counter() - t0, 3)
        ref.update(info=info, records=records, folder=folder)
        return ref

    def finish_reference(self, ref: dict[str, Any]) -> None:
        from evals.adaptation import drift

        if not ref.get("store_to_write"):
            return
        try:
            store = drift.build_store(ref["build"], self.passages, self.drift_info["hash"])
        except drift.NotComparable:
            return
        self._save_store(ref, store)

    def _save_store(self, ref: dict[str, Any], store: Any) -> None:
        from evals.adaptation import drift

        ref["info"]["drift_reference"] = str(drift.save_store(ref["folder"], store))
        ref["store_to_write"] = False

    def guarded(self, spec: BuildSpec, ref_spec: BuildSpec, ref: dict[str, Any]) -> dict[str, Any]:
        """A candidate that fails to load or run is reported (inconclusive, with the error), and the
        others still run; usage errors (a device this machine lacks) stop the command."""
        from evals.errors import UsageError as Usage

        try:
            return self.candidate(spec, ref_spec, ref)
        except Usage:
            raise
        except Exception as exc:  # noqa: BLE001  (reported in adapt.json; EVALS_DEBUG shows nothing more)
            msg = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            print(f"evaluate adapt: candidate {spec.label!r} failed: {msg}", file=sys.stderr)
            return {"label": spec.label, "runner": spec.runner, "overrides": spec.overrides, "error": msg,
                    "figures": {}, "tasks": {}, "verdict": "inconclusive", "why": [f"the build failed: {msg}"],
                    "checks": []}

    def candidate(self, spec: BuildSpec, ref_spec: BuildSpec, ref: dict[str, Any]) -> dict[str, Any]:
        from evals.adaptation.verdict import compare_records, decide

        t0 = time.perf_counter()
        reuse = ref["build"] is not None and spec.same_build(ref_spec) and not self.args.reference_run
        if reuse:
            build = ref["build"]
            info = dict(ref["info"], label=spec.label, note="the same build as the reference")
            records = ref["records"]
        else:
            build, mark = self._load(spec)
            records, runs = self._evaluate(build, self.folder(spec.label))
            info = self._identity(build, runs)
        try:
            drift_summary, missing = self._drift(build, ref)
            if not reuse:
                info["efficiency"] = self._efficiency(build, mark)
        finally:
            if not reuse and build is not ref["build"]:
                self._free(build)
        result = compare_records(self.infos, ref["records"], records, self.cfg, seed=self.args.seed)
        if drift_summary is not None:
            result["figures"]["drift"] = drift_summary
        ref_hashes = {k: v.get("hash") for k, v in ref["info"].get("runs", {}).items()}
        mine = {k: v.get("hash") for k, v in info.get("runs", {}).items()}
        info["comparable"] = all(ref_hashes.get(k) == h for k, h in mine.items())
        errors = sum(int((v.get("counters") or {}).get("errors", 0)) for v in info.get("runs", {}).values())
        out = {**info, **result, **decide(result["figures"], self.cfg, missing), "seconds": round(time.perf_counter() - t0, 3)}
        caveats = []
        if errors:
            caveats.append(f"{errors} items errored on this build and were left out of the pairing")
        if not info["comparable"]:
            caveats.append("the reference run was made with other tasks or items (suite hashes differ): "
                           "only the shared items were paired")
        out["why"] += caveats
        if caveats and out["verdict"] == "equivalent":  # equivalence is not claimed on a partial pairing
            out["verdict"] = "inconclusive"
        return out

    def _drift(self, build: Any, ref: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        from evals.adaptation import drift

        if not self.passages:
            return None, f"no drift text ({', '.join(drift.DRIFT_FILES)} under seeds/adaptation/)"
        rb, store = ref["build"], ref["store"]
        try:
            if build.local and rb is not None and rb.local:
                collect = drift.StoreBuilder(rb, self.passages, self.drift_info["hash"]) \
                    if ref.get("store_to_write") and build is not rb else None
                res = drift.compare_full(rb, build, self.passages, collect=collect)
                if collect is not None:
                    self._save_store(ref, collect.finish())
            elif build.local and store is not None:
                res = drift.compare_stored(store, build, self.passages)
            elif not build.local and ((rb is not None and rb.local) or store is not None):
                res = drift.compare_hosted(rb if rb is not None and rb.local else None, store if rb is None else None,
                                           build, self.passages, self.args.drift_tokens)
            else:
                return None, ("drift needs a local reference build or its stored drift_reference.npz"
                              + (f" ({ref['drift_note']})" if ref.get("drift_note") else ""))
        except drift.NotComparable as exc:
            return None, str(exc)
        return res.summary(seed=self.args.seed), None

    @staticmethod
    def _free(build: Any) -> None:
        build.close()
        inner = build.inner
        for attr in ("model", "tokenizer"):
            if hasattr(inner, attr):
                setattr(inner, attr, None)
        gc.collect()
        torch = getattr(inner, "torch", None)
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def suite_identity(ref_info: dict[str, Any], suite: Any) -> dict[str, Any]:
    from evals.fingerprint import canonical_hash

    runs = {k: v.get("hash") for k, v in (ref_info.get("runs") or {}).items()}
    return {"name": suite.name, "version": suite.version, "hash": canonical_hash(sorted(runs.items())), "runs": runs}


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    ref_spec = parse_spec(args.reference, "--reference")
    cand_specs = [parse_spec(c, "--candidate") for c in args.candidate]
    if args.reference_run and not Path(args.reference_run).exists():
        raise UsageError(f"--reference-run {args.reference_run}: no such folder")
    from evals.adaptation.drift import load_passages
    from evals.suites import load_catalog

    catalog = load_catalog()
    suite = catalog.suite(args.suite)
    cfg = equivalence_config(suite, args.margin)
    wanted = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    groups, infos = plan(catalog, suite, wanted)
    passages, drift_info = load_passages()
    started = datetime.now(timezone.utc)
    out = Path(args.output or f"results/adapt-{started.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out}: exists and is not a folder")
    t0 = time.perf_counter()
    session = Session(args, cfg, groups, infos, passages, drift_info, out)
    ref = session.reference(ref_spec)
    candidates = [session.guarded(spec, ref_spec, ref) for spec in cand_specs]
    if ref["build"] is not None:
        session.finish_reference(ref)
        session._free(ref["build"])
    from evals.adaptation.efficiency import hardware_manifest

    result = {
        "schema": SCHEMA, "created": started.isoformat(timespec="seconds"), "seconds": round(time.perf_counter() - t0, 3),
        "command": ["evaluate", "adapt", *argv], "output": str(out),
        "suite": suite_identity(ref["info"], suite),
        "tasks": [{"task": t.qualified, "kind": t.kind, "metric": t.metric, "refusal": t.refusal} for t in infos],
        "limit": args.limit, "seed": args.seed, "equivalence": cfg,
        "drift_text": drift_info | {"drift_tokens": args.drift_tokens},
        "hardware": hardware_manifest(),
        "reference": ref["info"],
        "candidates": candidates,
    }
    verdicts = [c["verdict"] for c in candidates]
    result["summary"] = {"equivalent": verdicts.count("equivalent"), "not equivalent": verdicts.count("not equivalent"),
                         "inconclusive": verdicts.count("inconclusive")}
    code = 0 if all(v == "equivalent" for v in verdicts) else 1
    result["exit_code"] = code
    write_outputs(out, result)
    print(summary_lines(result))
    return code


def write_outputs(out: Path, result: dict[str, Any]) -> None:
    from evals.render.adapt import render_html, render_markdown
    from evals.store import atomic_write_json, atomic_write_text

    atomic_write_json(out / "adapt.json", json.loads(json.dumps(result, default=_jsonable)))
    atomic_write_text(out / "adapt.md", render_markdown(result))
    atomic_write_text(out / "adapt.html", render_html(result))


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def summary_lines(result: dict[str, Any]) -> str:
    from evals.render.adapt import figure_text

    lines = [f"adaptation of {result['reference']['label']} on {result['suite']['name']} "
             f"({result['suite']['hash'][:19]}…): {len(result['candidates'])} candidate(s)"]
    for c in result["candidates"]:
        lines.append(f"  {c['label']}: {c['verdict'].upper()}  " + figure_text(c.get("figures", {})))
        lines += [f"      - {w}" for w in c["why"]]
    lines.append(f"→ {result['output']}/adapt.html")
    return "\n".join(lines)


if __name__ == "__main__":
    from evals.cli import main as cli_main

    sys.exit(cli_main(["adapt", *sys.argv[1:]]))
