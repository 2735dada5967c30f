"""Throughput against lm-evaluation-harness on the same items, model, dtype and batch size.

Both harnesses score the same texts: a 4-choice log-likelihood task (our knowledge banks with a
5-shot prefix, so contexts are a few hundred tokens) and a greedy generation task (our arithmetic
banks). lm-eval reads them through a custom task YAML over local JSONL (offline); evals through a
private data root. Each model is loaded once, before timing; the timed part is everything a user
waits for after that. One JSON line per task:

    {"task", "items", "agreement", "evals_items_per_s", "lm_eval_items_per_s", "speedup", ...}

    pip install lm_eval==0.4.13
    python benchmarks/vs_lm_eval.py [--model smollm2-135m] [--mc-items 500] [--gen-items 130] [--batch-size 16]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_items(n_mc: int, n_gen: int, seed: int = 1234) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    mc: list[dict] = []
    for lang, label in (("zh", "答案："), ("en", "Answer:")):
        bank = _jsonl(REPO / "seeds" / "performance" / f"knowledge_mc_{lang}.jsonl")
        rng.shuffle(bank)
        shots, rest = bank[:5], bank[5:]
        prefix = "".join(f"{it['input']}\n{label} {it['choices'][int(it['target'])]}\n\n" for it in shots)
        for it in rest:
            mc.append({"id": f"{lang}-{it['id']}", "context": f"{prefix}{it['input']}\n{label}",
                       "choices": [" " + c for c in it["choices"]], "gold": int(it["target"])})
    rng.shuffle(mc)
    gen: list[dict] = []
    for lang in ("en", "zh"):
        for it in _jsonl(REPO / "seeds" / "performance" / f"arithmetic_{lang}.jsonl"):
            gen.append({"id": f"{lang}-{it['id']}", "prompt": f"Question: {it['input']}\nAnswer:", "target": str(it["target"])})
    return mc[:n_mc], gen[:n_gen]


def write_lm_eval_tasks(folder: Path, mc: list[dict], gen: list[dict], max_new: int) -> None:
    (folder / "mc.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in mc), encoding="utf-8")
    (folder / "gen.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in gen), encoding="utf-8")
    (folder / "bench_mc.yaml").write_text(f"""task: bench_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {folder / 'mc.jsonl'}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{gold}}}}"
target_delimiter: ""
metric_list:
  - metric: acc
""")
    (folder / "bench_gen.yaml").write_text(f"""task: bench_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {folder / 'gen.jsonl'}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{target}}}}"
target_delimiter: ""
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: {max_new}
  do_sample: false
metric_list:
  - metric: exact_match
""")


def write_evals_root(root: Path, mc: list[dict], gen: list[dict], max_new: int) -> None:
    seeds, suites = root / "seeds" / "bench", root / "suites" / "bench"
    seeds.mkdir(parents=True)
    suites.mkdir(parents=True)
    (root / "runners").mkdir()
    rows = [{"id": r["id"], "input": r["context"], "choices": r["choices"], "target": r["gold"]} for r in mc]
    (seeds / "mc.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rows = [{"id": r["id"], "input": r["prompt"], "target": r["target"]} for r in gen]
    (seeds / "gen.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (suites / "suite.yaml").write_text("suite: bench\nversion: 1.0.0\ntasks:\n  - {task: bench_mc, weight: 1}\n"
                                       "  - {task: bench_gen, weight: 1}\n")
    (suites / "bench_mc.yaml").write_text(
        "task: bench_mc\narea: performance\nitems: {path: bench/mc.jsonl}\nkind: loglikelihood\nchat: false\n"
        "template: '{{ input }}'\nchoice_template: '{{ choice }}'\nscorers: [choice]\nmetrics: [acc]\n")
    (suites / "bench_gen.yaml").write_text(
        "task: bench_gen\narea: performance\nitems: {path: bench/gen.jsonl}\nkind: generate\nchat: false\n"
        f"template: '{{{{ input }}}}'\ngeneration: {{max_new_tokens: {max_new}, temperature: 0, stop: [\"\\n\"]}}\n"
        "scorers: [number]\n")


def model_folder(name: str) -> str:
    """A plain transformers folder both harnesses load identically (GGUF weights dequantised once)."""
    from evals.adapters.hf import HFAdapter
    from evals.runners import resolve_profile

    adapter = HFAdapter(resolve_profile(name), batch_size=1)
    return str(adapter.model.name_or_path) if Path(str(adapter.model.name_or_path)).is_dir() else adapter.folder


def run_evals(folder: str, root: Path, out: Path, batch: int, dtype: str) -> dict[str, tuple[float, dict]]:
    os.environ["EVALS_DATA_ROOT"] = str(root)
    from evals.adapters.hf import HFAdapter
    from evals.pipeline import evaluate
    from evals.runners import resolve_profile

    adapter = HFAdapter(resolve_profile(f"hf:{folder}"), batch_size=batch, dtype=dtype, device="cpu")
    result = {}
    for task in ("bench_mc", "bench_gen"):
        t0 = time.perf_counter()
        report = evaluate(f"hf:{folder}", "bench", adapter=adapter, tasks=[task], output_dir=str(out),
                          use_cache=False, progress=False)
        secs = time.perf_counter() - t0
        print(json.dumps({"side": "evals", "task": task, "seconds": round(secs, 2)}), file=sys.stderr, flush=True)
        recs = {json.loads(line)["item_id"]: json.loads(line)
                for line in (Path(report["run"]["dir"]) / "records.jsonl").read_text(encoding="utf-8").splitlines()}
        result[task] = (secs, recs)
    return result


def run_lm_eval(folder: str, tasks_dir: Path, batch: int, dtype: str, mc: list[dict], gen: list[dict]):
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=folder, dtype=dtype, device="cpu", batch_size=batch)
    tm = TaskManager(include_path=str(tasks_dir))
    result = {}
    for task, docs in (("bench_mc", mc), ("bench_gen", gen)):
        t0 = time.perf_counter()
        res = lm_eval.simple_evaluate(model=lm, tasks=[task], task_manager=tm, log_samples=True, bootstrap_iters=0)
        secs = time.perf_counter() - t0
        print(json.dumps({"side": "lm_eval", "task": task, "seconds": round(secs, 2)}), file=sys.stderr, flush=True)
        preds = {}
        for s in res["samples"][task]:
            doc_id = docs[s["doc_id"]]["id"]
            if task == "bench_mc":
                lls = [float(r[0]) for r in s["filtered_resps"]]
                preds[doc_id] = max(range(len(lls)), key=lambda i: (lls[i], -i))
            else:
                preds[doc_id] = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
        result[task] = (secs, preds)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--mc-items", type=int, default=500)
    ap.add_argument("--gen-items", type=int, default=130)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--only", choices=["evals", "lm_eval"], help="run one side (for profiling)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    mc, gen = build_items(args.mc_items, args.gen_items)
    folder = model_folder(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "lm").mkdir()
        write_lm_eval_tasks(tmp / "lm", mc, gen, args.max_new_tokens)
        write_evals_root(tmp / "root", mc, gen, args.max_new_tokens)
        ours = run_evals(folder, tmp / "root", tmp / "out", args.batch_size, args.dtype) if args.only != "lm_eval" else {}
        theirs = run_lm_eval(folder, tmp / "lm", args.batch_size, args.dtype, mc, gen) if args.only != "evals" else {}
    for task, docs in (("bench_mc", mc), ("bench_gen", gen)):
        line = {"task": task, "items": len(docs), "model": args.model, "dtype": args.dtype, "batch_size": args.batch_size,
                "threads": torch.get_num_threads()}
        if task in ours:
            line["evals_items_per_s"] = round(len(docs) / ours[task][0], 3)
        if task in theirs:
            line["lm_eval_items_per_s"] = round(len(docs) / theirs[task][0], 3)
        if task in ours and task in theirs:
            recs, preds = ours[task][1], theirs[task][1]
            if task == "bench_mc":
                same = [recs[d["id"]]["parsed"] == preds[d["id"]] for d in docs]
            else:
                same = [recs[d["id"]]["response"] == preds[d["id"]] for d in docs]
            line["agreement"] = round(sum(same) / len(same), 4)
            line["speedup"] = round(theirs[task][0] / ours[task][0], 3)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())
