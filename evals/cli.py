"""The `evaluate` command. Imports stay inside the handlers so `evaluate --help` is instant.

Exit codes: 0 ok, 1 runtime failure, 2 usage or input error, 3 a gate failed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

SUBCOMMANDS = ("list", "classify", "report", "compare", "gate", "publish", "serve", "adapt")
# Subcommands living in their own module, each with `main(argv) -> int`; imported only when used.
MODULE_COMMANDS = {"report": "evals.render.command", "compare": "evals.compare", "gate": "evals.gate",
                   "publish": "evals.publish", "serve": "evals.serve", "adapt": "evals.adaptation.adapt"}
EPILOG = """exit codes: 0 ok, 1 runtime failure (model or backend broke, items errored),
2 usage or input error (bad flag, unknown name, malformed file), 3 a gate failed.

examples:
  evaluate --model smollm2-135m --suite performance --limit 20
  evaluate --model hf:./my-model --suite performance --tasks arithmetic_en
  evaluate --model openai:qwen2.5-7b-instruct --base-url http://127.0.0.1:8000/v1 --suite safety
  evaluate serve --model smollm2-135m --port 8000
  evaluate list tasks --suite performance --json
  evaluate report results/RUN --format html
  evaluate compare results/RUN_A results/RUN_B
  evaluate gate results/RUN --min safety=0.9 --baseline results/LAST_RELEASE --max-drop 0.02 --junit gate.xml
  evaluate publish results/* --out reports/site
  evaluate adapt --reference smollm2-135m --candidate smollm2-135m,quantize=int8   (evaluate adapt --help)"""


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate", description="Test and assess a language model: performance, safety, ethics, adaptation.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="runner profile name (evaluate list models), or hf:PATH_OR_HUB_ID")
    p.add_argument("--suite", required=True, help="suite name (evaluate list suites)")
    p.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    p.add_argument("--limit", type=_positive_int, help="at most N items per task (a seeded sample)")
    p.add_argument("--batch-size", type=_batch_size, help="N or auto (default: the profile's)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the profile's, else cuda when present)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"], help="weights dtype")
    p.add_argument("--seed", type=int, default=1234, help="seed for sampling, few-shot and --limit (default 1234)")
    p.add_argument("--max-length", type=_positive_int, help="cap on tokens per sequence")
    p.add_argument("--output-dir", default="results", help="where run folders go (default ./results)")
    p.add_argument("--data-dir", help="folder with local copies of public datasets")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    p.add_argument("--judge", help="judge for judged tasks: refusal-rules, content-rules, or a runner profile (LLM judge)")
    p.add_argument("--base-url", help="hosted models: the OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--max-concurrency", type=_positive_int, help="hosted models: requests in flight (default 16)")
    p.add_argument("--timeout", type=_positive_float, help="hosted models: seconds per request (default 120)")
    p.add_argument("--json", action="store_true", help="print report.json instead of the summary table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _list_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate list", description="List suites, tasks or models.")
    p.add_argument("what", choices=["suites", "tasks", "models"])
    p.add_argument("--suite", help="with 'tasks': only this suite's tasks")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def _classify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate classify",
                                description="Re-judge stored responses (prompt + response per line) without the model.")
    p.add_argument("--judge", default="refusal", help="refusal (default), refusal-rules, refusal-clf, or a judge name")
    p.add_argument("--input", required=True, help="JSONL with 'prompt' and 'response' (a run's records.jsonl works)")
    p.add_argument("--output", required=True, help="JSONL written atomically: each line plus 'label' and 'score'")
    p.add_argument("--split", help="only input lines whose 'split' is this (e.g. test)")
    return p


def cmd_classify(argv: Sequence[str]) -> int:
    args = _classify_parser().parse_args(argv)
    from evals.classify import check_paths, classify_file

    src, dst = check_paths(args.input, args.output)
    summary = classify_file(args.judge, src, dst, args.split)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def cmd_run(argv: Sequence[str]) -> int:
    args = _run_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from evals.pipeline import evaluate
    from evals.render.markdown import summary_table

    report = evaluate(
        args.model, args.suite, tasks=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        limit=args.limit, batch_size=args.batch_size, device=args.device, dtype=args.dtype, seed=args.seed,
        output_dir=args.output_dir, use_cache=not args.no_cache, data_dir=args.data_dir,
        max_length=args.max_length, progress=not args.quiet, judge=args.judge,
        base_url=args.base_url, max_concurrency=args.max_concurrency, timeout_s=args.timeout,
    )
    if "shard" in report:  # a data-parallel process other than rank 0: rank 0 reports
        return 1 if report["counters"]["errors"] else 0
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(summary_table(report))
    return 1 if report["counters"]["errors"] else 0


def cmd_list(argv: Sequence[str]) -> int:
    args = _list_parser().parse_args(argv)
    from evals.listing import list_models, list_suites, list_tasks

    rows: Any = {"suites": list_suites, "models": list_models}.get(args.what)
    data = list_tasks(args.suite) if args.what == "tasks" else rows()
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for entry in data:
        if args.what == "tasks":
            count = f"{entry['items']:>6} items" if entry["items"] is not None else f"from {entry['source']}"
            print(f"{entry['name']:<28} {entry['area']:<12} {entry['kind']:<14} {count}  {entry['description']}")
        elif args.what == "suites":
            print(f"{entry['name']:<16} {entry['version']:<8} {len(entry['tasks']):>3} tasks  {entry['description']}")
        else:
            print(f"{entry['name']:<18} {entry['adapter']:<7} {entry['status']:<24} {entry['description']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    handler = cmd_run
    if argv and argv[0] in SUBCOMMANDS:
        name, argv = argv[0], argv[1:]
        if name in MODULE_COMMANDS:
            import importlib

            handler = importlib.import_module(MODULE_COMMANDS[name]).main
        else:
            handler = {"list": cmd_list, "classify": cmd_classify}[name]
    try:
        return handler(argv)
    except KeyboardInterrupt:
        print("evaluate: interrupted; finished items are kept, run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the user; EVALS_DEBUG=1 shows the traceback
        from evals.errors import EvalsError

        if os.environ.get("EVALS_DEBUG"):
            raise
        if isinstance(exc, EvalsError):
            print(f"evaluate: error: {exc}", file=sys.stderr)
            return exc.exit_code
        print(f"evaluate: runtime failure: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
              f"(set EVALS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
