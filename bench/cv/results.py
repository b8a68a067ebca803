"""Publish a cross-validation report into ``docs/results`` (quality, judge, cv.json)."""

from __future__ import annotations

import json
from pathlib import Path

from components.baselines.results import merge_results, write_markdown
from components.judge import report as judge_report


def command_for(config: str | Path) -> str:
    """How a round's numbers are made: every stage on the GPU machine, then the report."""
    return (f"python -m bench.cv --config {config} --work <dir>, then --stages report "
            "--out docs/results")


COMMAND = command_for("bench/cv/h200.yaml")
FOLD_FREE = ("judge", "judge[rubric-v6]", "judge[rubric-v7-exact]",
             "judge[rubric-v7-exact-full]", "cross_encoder", "cross_encoder[listwise]",
             "cross_encoder[bce]")


def publish(result: dict, out: Path, command: str = COMMAND) -> None:
    out = Path(out)
    cv = {k: v for k, v in result["cv"].items() if k != "per_query_ndcg@10"}
    cv.update({"command": command, "hardware": result.get("hardware", "")})
    (out / "cv.json").write_text(json.dumps(result | {"command": command}, indent=1,
                                            default=str) + "\n")
    seed13 = {name: {"test": row, "command": command + " (seed-13 test queries)"}
              for name, row in result.get("seed13", {}).items() if name in FOLD_FREE}
    data = merge_results(out / "quality.json", seed13)
    data["cv"] = cv
    (out / "quality.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    write_markdown(out / "quality.md", data)
    publish_judge(result, out, command)
    publish_dimensions(result, out, command)


def publish_judge(result: dict, out: Path, command: str = COMMAND) -> None:
    """The 1.5B judge: prompts vs human labels per split, throughput on the GPU."""
    stages = result["stages"]
    path = out / "judge.json"
    data = json.loads(path.read_text())
    for entry in data["models"].values():  # random-weight GPU timings are replaced below
        entry.pop("pairs_per_s_h100", None)
    throughput = stages["judge"]
    model = "qwen2.5-coder-1.5b-instruct"
    # the fixed re-judging workload where the run has it, else the run's own new pairs
    data["pairs_per_s_h200"] = (throughput.get("benchmark") or throughput)["pairs_per_s"]
    data["judge_1.5b"] = {
        "model": model, "chosen_prompt": stages["prompts"]["chosen"],
        "chosen_on": stages["prompts"]["chosen_on"], "prompts": stages["prompts"]["reports"],
        "throughput_h200": throughput, "hardware": result.get("hardware", ""),
        "command": command}
    path.write_text(json.dumps(data, indent=2) + "\n")
    judge_report.write_markdown(out / "judge.md", data)


def publish_dimensions(result: dict, out: Path, command: str = COMMAND) -> None:
    """The judge's dimension answers against the human grades of the judged ESCI pairs
    (``judge_dimensions.json`` / ``.md``, and the summary in ``judge.json``)."""
    from components.judge import dimensions_bench
    from components.judge.report import merge_results
    from components.judge.report import write_markdown as judge_markdown

    dims = result["stages"].get("dimensions")
    if not dims or not dims.get("quality"):
        return
    quality = dims["quality"]
    page = {"command": command, "hardware": result.get("hardware", ""),
            "judge_model": dims["judge_model"], "prompt_version": dims["prompt_version"],
            "dimension_version": dims["dimension_version"], "seconds": dims["seconds"],
            "pairs_per_s": dims["pairs_per_s"],
            "judged_now": {"grades": 0, "dimensions": dims["asked_now"]},
            "what": f"measurement: every judged ESCI pair ({quality['n']}), roles from the "
                    "seed-13 split",
            "quality": quality}
    (out / "judge_dimensions.json").write_text(json.dumps(page, indent=1) + "\n")
    (out / "judge_dimensions.md").write_text(dimensions_bench.markdown(page))
    summary = json.loads((out / "judge.json").read_text()).get("dimensions", {})
    summary[f"{dims['judge_model']}@{dims['dimension_version']}"] = {
        "what": page["what"], "hardware": page["hardware"], "command": command,
        "pairs_per_s": dims["pairs_per_s"], "combination": quality["combination"],
        "type_and_brand_match_by_grade": quality["type_and_brand_match_by_grade"]}
    judge_markdown(out / "judge.md", merge_results(out / "judge.json", {},
                                                   {"dimensions": summary}))
