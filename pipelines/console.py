"""A quiet console for local pipeline runs: one line per step, each step's full log in a file.

kfp.local writes everything (its own log lines, every task's streamed output, the JSON of
each task's outputs) to ``sys.stdout``. :class:`StepConsole` stands in for ``sys.stdout``
while the pipeline runs: it reads kfp's "Executing task" / "finished with status" lines to
know which step is running, writes every line to ``<run>/logs/<task>.log``, and prints to the
terminal only one line per step as it starts and ends, with the step's seconds and the one or
two figures that matter (read from the step's ``executor_output.json``). The end line also
gives the step's CPU seconds (user + system of the step's processes, which kfp.local waits
for before it reports the end) and the machine's 1-minute load average: on a shared 2-core
machine wall seconds alone do not tell a step that does more work from a busy machine.
``verbose=True`` also streams every line to the terminal, as kfp.local does on its own.

Example::

    with StepConsole(workdir) as console:
        kpdistill_pipeline(...)
    print(console.run_dir, console.steps)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_START = re.compile(r"Executing task '([^']+)'")
_END = re.compile(r"Task '([^']+)' finished with status (SUCCESS|FAILURE)")
_RUN = re.compile(r"Running pipeline: '([^']+)'")

# The figures worth a glance, per step (task names without kfp's "-2" suffix): metric keys as
# each step logs them, with a short label and a format.
KEY_FIGURES: dict[str, list[tuple[str, str, str]]] = {
    "prepare-data": [("items", "items", "{:.0f}"), ("keyphrases", "keyphrases", "{:.0f}")],
    "simulate-click-log": [("clicks", "clicks", "{:,.0f}"), ("ctr", "CTR", "{:.3f}")],
    "evaluate-baselines": [("bm25.test.ndcg@10", "BM25 nDCG@10", "{:.3f}"),
                           ("minilm_zero_shot.test.ndcg@10", "MiniLM nDCG@10", "{:.3f}")],
    "generate-candidates": [("pairs", "pairs", "{:.0f}")],
    "shard-candidates": [("num_shards", "shards", "{:.0f}"), ("pairs", "pairs", "{:.0f}")],
    "judge-pairs": [("pairs", "pairs labelled", "{:.0f}"),
                    ("judged_now", "judged now (rest from the label store)", "{:.0f}"),
                    ("pairs_per_s", "pairs/s", "{:.2f}")],
    "merge-labels": [("pairs", "pairs, each judged once", "{:.0f}"),
                     ("judged_now", "judged now", "{:.0f}"),
                     ("stragglers", "straggling shards", "{:.0f}")],
    "train-cross-encoder": [("test.ndcg@10", "test nDCG@10", "{:.3f}"),
                            ("judge_like_test.auc", "AUC vs humans", "{:.3f}")],
    "build-pool": [("pool.pairs", "pool pairs", "{:.0f}"),
                   ("pool.pool_to_judged", "x the judged pairs", "{:.1f}")],
    "score-pairs": [("pool.pairs", "pairs scored", "{:.0f}"),
                    ("pool.pairs_per_s", "pairs/s", "{:.1f}")],
    "merge-scores": [("pool.pairs", "pairs, each scored once", "{:.0f}"),
                     ("pool.stragglers", "straggling shards", "{:.0f}")],
    "train-bi-encoder": [("final_loss.clicks", "final click loss", "{:.3f}"),
                         ("train.examples_per_s", "examples/s", "{:.1f}")],
    "evaluate": [("distilled.test.ndcg@10", "test nDCG@10", "{:.3f}"),
                 ("click_only.test.ndcg@10", "test nDCG@10", "{:.3f}"),
                 ("distilled_64.test.ndcg@10", "at 64 dims", "{:.3f}")],
    "export-model": [("encoder.min_cosine", "ONNX parity cos", "{:.4f}")],
    "build-index": [("keyphrases", "keyphrases indexed", "{:.0f}")],
    "report-run": [("sections", "sections", "{:.0f}")],
}


def step_kind(task: str) -> str:
    """``evaluate-2`` -> ``evaluate``: kfp numbers the second use of a component."""
    return re.sub(r"-\d+$", "", task)


def task_metadata(task_dir: Path) -> dict:
    """Every artifact's metadata of a finished task, merged (metrics first)."""
    path = task_dir / "executor_output.json"
    if not path.is_file():
        return {}
    out: dict = {}
    artifacts = json.loads(path.read_text()).get("artifacts", {})
    for name in sorted(artifacts, key=lambda n: n != "metrics"):
        for artifact in artifacts[name].get("artifacts", []):
            for key, value in (artifact.get("metadata") or {}).items():
                out.setdefault(key, value)
    return out


def _free_name(logs: Path, task: str) -> Path:
    """``logs/<task>.log``, or ``<task>~2.log``... when a step of that name ran already (the
    shards of a ``dsl.ParallelFor`` step; shards running side by side share their lines)."""
    path, n = logs / f"{task}.log", 1
    while path.exists():
        n += 1
        path = logs / f"{task}~{n}.log"
    return path


def key_figures(task: str, metadata: dict) -> str:
    parts = []
    for key, label, fmt in KEY_FIGURES.get(step_kind(task), []):
        value = metadata.get(key)
        if isinstance(value, int | float) and not (label.endswith("/s") and value == 0):
            parts.append(f"{label} {fmt.format(value)}")  # a rate of nothing done is left out
    return ", ".join(parts)


def children_cpu_seconds() -> float:
    """User + system seconds of every child process this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this platform
        return None


class _SharedContext:
    """A context manager factory made safe for overlapping users on several threads: the first
    one in enters the wrapped context, the last one out leaves it, the others share it.

    kfp.local runs the shards of a ``dsl.ParallelFor`` on threads, and each task's dispatch
    enters ``logging_utils.local_logger_context`` (swaps the root logger's handlers) and
    ``indented_print`` (swaps ``builtins.print``), saving and restoring process-wide state
    that the other thread has just swapped. Interleaved, they leave ``print`` indented for the
    rest of the process and can leave the root logger without handlers at the moment a shard
    logs "finished with status", so the console never sees that step end.
    """

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self._lock = threading.Lock()
        self._depth = 0
        self._entered = None

    @contextlib.contextmanager
    def __call__(self, *args, **kwargs):
        with self._lock:
            if self._depth == 0:
                self._entered = self.wrapped(*args, **kwargs)
                self._entered.__enter__()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    entered, self._entered = self._entered, None
                    entered.__exit__(None, None, None)


@contextlib.contextmanager
def thread_safe_kfp_logging():
    """kfp.local's two process-wide logging contexts, shared safely across its task threads
    (:class:`_SharedContext`) while this context is open."""
    from kfp.local import logging_utils

    names = ("local_logger_context", "indented_print")
    saved = {name: getattr(logging_utils, name) for name in names}
    for name, original in saved.items():
        setattr(logging_utils, name, _SharedContext(original))
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(logging_utils, name, original)


@dataclass
class Step:
    task: str
    started: float
    seconds: float = 0.0
    cpu_started: float = 0.0
    attributed_started: float = 0.0  # CPU seconds given to other steps' end lines by then
    cpu_seconds: float | None = None
    load: float | None = None
    status: str = "RUNNING"
    figures: str = ""
    log: Path | None = None
    output: Path | None = None   # the task's output folder, once it has ended


@dataclass
class StepConsole:
    """Stands in for ``sys.stdout`` during a kfp.local run (use it as a context manager)."""

    workdir: Path
    verbose: bool = False
    terminal: TextIO = field(default_factory=lambda: sys.stdout)
    run_dir: Path | None = None
    steps: list[Step] = field(default_factory=list)
    _buffer: str = ""
    # kfp.local runs the shards of a ParallelFor step on threads that all print here: one
    # lock keeps their writes whole (an unguarded ``+=`` on the buffer lost a step's end line)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _log: TextIO | None = None
    _run_log: TextIO | None = None
    _pending: list[str] = field(default_factory=list)
    _saved: TextIO | None = None
    _pipeline: str = ""
    _entered: float = 0.0
    # CPU seconds already given to ended steps: shards of one ParallelFor step run side by
    # side, and a process's children's CPU counts only once they are reaped, so a shard that
    # ends second would otherwise also count the first one's
    _attributed: float = 0.0
    _kfp_logging: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    # --- the context: swap sys.stdout -------------------------------------------------
    def __enter__(self) -> StepConsole:
        self._entered = time.time()
        self._kfp_logging.enter_context(thread_safe_kfp_logging())
        self._saved, sys.stdout = sys.stdout, self
        return self

    def __exit__(self, *exc) -> None:
        self.flush_line()
        sys.stdout = self._saved or sys.__stdout__
        self._kfp_logging.close()
        for fh in (self._log, self._run_log):
            if fh:
                fh.close()
        self._log = self._run_log = None

    # --- the file protocol --------------------------------------------------------------
    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            while "\n" in self._buffer:
                line, self._buffer = self._buffer.split("\n", 1)
                self._line(line)
        return len(text)

    def flush(self) -> None:
        for fh in (self._log, self._run_log):
            if fh:
                fh.flush()

    def flush_line(self) -> None:
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._line(line)

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"

    # --- routing --------------------------------------------------------------------------
    def _line(self, raw: str) -> None:
        line = _ANSI.sub("", raw)
        if self.verbose:
            self.terminal.write(raw + "\n")
            self.terminal.flush()
        if match := _RUN.search(line):
            self._pipeline = match.group(1)
        if match := _START.search(line):
            self._start(match.group(1))
        self._to_log(line)
        if match := _END.search(line):
            self._end(match.group(1), match.group(2))

    def _find_run_dir(self) -> Path | None:
        """The run folder kfp.local made for this run (it exists once a task starts)."""
        runs = sorted((p for p in self.workdir.glob(f"{self._pipeline}-*")
                       if p.is_dir() and p.stat().st_mtime >= self._entered - 1),
                      key=lambda p: p.stat().st_mtime)
        return runs[-1] if runs else None

    def _logs_dir(self) -> Path | None:
        if self.run_dir is None:
            return None
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return logs

    def _to_log(self, line: str) -> None:
        """To the running step's log, else to ``logs/pipeline.log``; held in memory until the
        run folder exists."""
        self._pending.append(line)
        if self.run_dir is None and self._pipeline:
            self.run_dir = self._find_run_dir()
        logs = self._logs_dir()
        if logs is None:
            return
        step = self.steps[-1] if self.steps else None  # its outputs follow its end line
        if step is not None and self._log is None:
            step.log = _free_name(logs, step.task)  # shards run the same task name
            self._log = open(step.log, "w", encoding="utf-8")  # noqa: SIM115
        if step is None and self._run_log is None:
            self._run_log = open(logs / "pipeline.log", "a", encoding="utf-8")  # noqa: SIM115
        target = self._log if step is not None else self._run_log
        target.write("\n".join(self._pending) + "\n")
        self._pending.clear()

    def _start(self, task: str) -> None:
        if self._pending and self.run_dir is None and self._pipeline:
            self.run_dir = self._find_run_dir()
        if self._pending and (logs := self._logs_dir()):  # what came before this step
            self._run_log = self._run_log or open(  # noqa: SIM115
                logs / "pipeline.log", "a", encoding="utf-8")
            self._run_log.write("\n".join(self._pending) + "\n")
            self._pending.clear()
        if self._log:
            self._log.close()
            self._log = None
        self.steps.append(Step(task, time.perf_counter(), cpu_started=children_cpu_seconds(),
                               attributed_started=self._attributed))
        if not self.verbose:
            self._say(f"{time.strftime('%H:%M:%S')}  {task:<22} started")

    def _end(self, task: str, status: str) -> None:
        if self._log:
            self._log.flush()
        # the first still running step of that name (shards of one step run side by side)
        step = next((s for s in self.steps if s.task == task and s.status == "RUNNING"), None)
        if self.run_dir is None and self._pipeline:
            self.run_dir = self._find_run_dir()
        if step is None:
            return
        step.seconds = time.perf_counter() - step.started
        step.cpu_seconds = max(children_cpu_seconds() - step.cpu_started
                               - (self._attributed - step.attributed_started), 0.0)
        self._attributed += step.cpu_seconds
        step.load = load_average()
        step.status = status
        if self.run_dir is not None and (task_dir := self._task_dir(step)) is not None:
            step.figures = key_figures(task, task_metadata(task_dir))
        mark = "done" if status == "SUCCESS" else "FAILED"
        line = f"{time.strftime('%H:%M:%S')}  {task:<22} {mark} in {step.seconds:5.0f} s"
        line += f" (CPU {step.cpu_seconds:4.0f} s" + (
            f", load {step.load:.1f})" if step.load is not None else ")")
        if step.figures:
            line += f"  {step.figures}"
        self._say(line)
        if status != "SUCCESS" and not self.verbose and step.log and step.log.is_file():
            tail = step.log.read_text(errors="replace").splitlines()[-25:]
            self._say("\n".join(["    " + t for t in tail] + [f"    full log: {step.log}"]))

    def _task_dir(self, step: Step) -> Path | None:
        """The newest not yet claimed output folder of ``step``'s task: ``<run>/<task>`` or,
        for a step inside a ``dsl.ParallelFor``, ``<run>/for-loop-N-iteration-I/<task>``."""
        claimed = {s.output for s in self.steps if s.output is not None}
        found = [p.parent for p in self.run_dir.glob(f"**/{step.task}/executor_output.json")
                 if p.parent not in claimed]
        if found:
            step.output = max(found, key=lambda p: (p / "executor_output.json").stat().st_mtime)
        return step.output

    def _say(self, text: str) -> None:
        self.terminal.write(text + "\n")
        self.terminal.flush()
