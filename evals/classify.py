"""`evaluate classify`: re-judge stored responses without calling the model again.

Input lines need `prompt` and `response` (a run's records.jsonl works too: its `prompt` is the
exact text sent, its `response` the model's answer). Output lines add `label` and `score`. When the
input carries reference labels (`label`), the judge's accuracy, precision and recall are reported.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.errors import InputError, UsageError
from evals.items import read_jsonl
from evals.store import atomic_write_text


def _prompt_of(row: dict[str, Any]) -> str:
    if isinstance(row.get("input"), str):
        return row["input"]
    return str(row.get("prompt", ""))


def classify_file(judge_name: str, input_path: Path, output_path: Path, split: str | None = None) -> dict[str, Any]:
    from evals.safety.judges import evaluate_rows, get_judge

    rows = read_jsonl(input_path)
    if split:
        rows = [r for r in rows if r.get("split") == split]
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not isinstance(row.get("response"), str):
            raise InputError(f"{input_path}:{n}", "each line needs a string 'response' (and 'prompt')")
    judge = get_judge(judge_name)
    verdicts = judge.judge_many([(_prompt_of(r), r["response"], r.get("lang") or r.get("meta", {}).get("lang"))
                                 for r in rows])
    out_lines = []
    for row, v in zip(rows, verdicts):
        out = {k: row[k] for k in ("id", "item_id", "task", "lang", "split") if k in row}
        out.update(prompt=_prompt_of(row), response=row["response"], label=v.label, score=round(v.score, 4),
                   why=v.why, judge=judge.name)
        if "label" in row:
            out["reference"] = row["label"]
        out_lines.append(json.dumps(out, ensure_ascii=False))
    atomic_write_text(output_path, "\n".join(out_lines) + ("\n" if out_lines else ""))
    summary: dict[str, Any] = {"judge": judge.name, "input": str(input_path), "output": str(output_path),
                               "n": len(rows), "labels": {}}
    for v in verdicts:
        summary["labels"][v.label] = summary["labels"].get(v.label, 0) + 1
    labelled = [(r, v) for r, v in zip(rows, verdicts) if r.get("label") in ("refused", "complied")]
    if labelled:
        summary["agreement"] = evaluate_rows([(r["label"] == "refused", v.refused, r.get("lang", "?")) for r, v in labelled])
    return summary


def check_paths(input_path: str, output_path: str) -> tuple[Path, Path]:
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise UsageError(f"--input {src}: no such file")
    if src.resolve() == dst.resolve():
        raise UsageError("--output must differ from --input (the input is never overwritten)")
    return src, dst
