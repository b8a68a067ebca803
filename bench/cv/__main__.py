"""``python -m bench.cv --config bench/cv/h200.yaml --work DIR [--stages ...]``: see __init__."""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from bench.cv.common import log, write_json
from bench.cv.config import load_cv_config

STAGES = ("generate", "prepare", "judge", "assistant", "pool", "students", "lora", "report")
DONE = {"generate": "generate/summary.json", "prepare": "prepare/summary.json", "judge": "judge/throughput.json",
        "assistant": "assistant/assistant.json", "pool": "pool/pool.json"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--out", type=Path, default=None,
                        help="report: merge the cross-validated tables into this folder "
                             "(docs/results)")
    parser.add_argument("--hardware", default="", help="report: where the GPU stages ran")
    args = parser.parse_args(argv)
    config = load_cv_config(args.config)
    runner = Runner(config, args)
    stages = [s for s in STAGES if s in args.stages]
    if "students" in stages and "lora" in stages and config.lora_variants:
        # some students learn from the LoRA judges' labels: the LoRA stage goes first
        stages.remove("lora")
        stages.insert(stages.index("students"), "lora")
        for stage in stages:
            if stage == "students":
                runner.release_judge()  # the student processes need the GPU's memory
            runner.stage(stage)
    elif "students" in stages and "lora" in stages:
        # The LoRA judge trains in this process while the student processes share the GPU:
        # neither fills an H200 alone.
        stages.remove("lora")
        students = threading.Thread(target=runner.stage, args=("students",))
        stages = stages[:stages.index("students")] + ["lora"] + stages[stages.index("students")
                                                                          + 1:]
        for stage in stages:
            if stage == "lora":
                students.start()
                try:
                    runner.stage(stage)
                finally:
                    students.join()  # every later stage (the report) needs the students
            else:
                runner.stage(stage)
        if runner.failed:
            raise SystemExit(f"stage failed: {runner.failed}")
    else:
        for stage in stages:
            if stage == "students":
                runner.release_judge()
            runner.stage(stage)
    runner.save_timings()
    return 0


class Runner:
    """Runs stages, skipping those whose output exists; keeps the loaded judge between them."""

    def __init__(self, config, args):
        self.config, self.args, self.work = config, args, args.work
        self.judge = None
        self.timings: dict[str, float] = {}
        self.failed: list[str] = []

    def stage(self, stage: str) -> None:
        marker = DONE.get(stage)
        if marker and (self.work / marker).exists():
            log(f"{stage}: done already ({marker})")
            return
        start = time.perf_counter()
        log(f"{stage}: start")
        try:
            self._run(stage)
        except Exception:
            self.failed.append(stage)
            raise
        self.timings[stage] = round(time.perf_counter() - start, 1)
        log(f"{stage}: {self.timings[stage]} s")

    def _run(self, stage: str) -> None:
        config, work = self.config, self.work
        if stage == "generate" and config.generated_items > 0:
            from bench.cv.generate import run_generate
            run_generate(config, work, self.loaded_judge())
        elif stage == "prepare":
            from bench.cv.prepare import run
            run(config, work)
        elif stage == "judge":
            from bench.cv.judging import run_judge
            self.judge = run_judge(config, work, self.judge)
        elif stage == "lora" and config.lora:
            from bench.cv.judging import load_judge, run_lora, use_prompt
            chosen = json.loads((work / "judge" / "prompts.json").read_text())["chosen"]
            if self.judge is None:
                self.judge = load_judge(config, chosen)
            else:
                use_prompt(self.judge, chosen)
            run_lora(config, work, self.judge)
        elif stage == "assistant":
            from bench.cv.assistant import run_assistant
            run_assistant(config, work)
        elif stage == "pool":
            from bench.cv.assistant import run_pool
            run_pool(config, work)
        elif stage == "students":
            from bench.cv.students import run_students
            run_students(self.args.config, config, work)
        elif stage == "report":
            from bench.cv.report import run_report
            run_report(config, work, self.args.out, self.args.hardware, self.args.config)

    def loaded_judge(self):
        """The judge LLM, loaded once (with the chosen prompt where one was chosen already)."""
        if self.judge is None:
            from bench.cv.judging import load_judge
            prompts = self.work / "judge" / "prompts.json"
            chosen = json.loads(prompts.read_text())["chosen"] if prompts.exists() \
                else self.config.prompts[0]
            self.judge = load_judge(self.config, chosen)
        return self.judge

    def release_judge(self) -> None:
        """Drop the judge LLM and hand its GPU memory back (PyTorch keeps freed blocks
        cached: measured on an H200, 129 GB held after judging and LoRA training, which
        starved the student processes started next)."""
        if self.judge is None:
            return
        import gc

        import torch

        self.judge = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def save_timings(self) -> None:
        if self.timings:
            path = self.work / "timings.json"
            old = json.loads(path.read_text()) if path.exists() else {}
            write_json(path, {**old, **self.timings})


if __name__ == "__main__":
    raise SystemExit(main())
