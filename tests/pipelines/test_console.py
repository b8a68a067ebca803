"""The quiet console of local runs: one line per step start/end on the terminal, every line of
a step in its own log file, figures read from the step's executor_output.json."""

import io
import json
import sys

from pipelines.console import StepConsole, key_figures, step_kind

CYAN, GREEN, RED, RESET = "\x1b[96m", "\x1b[92m", "\x1b[91m", "\x1b[0m"


def _kfp_task(console_out, run, task: str, status: str = "SUCCESS", metadata=None):
    """What kfp.local prints for one task (colours included), and the file it leaves."""
    (run / task).mkdir(parents=True, exist_ok=True)
    print(f"04:00:00.000 - INFO - Executing task {CYAN}'{task}'{RESET}")
    print("04:00:00.001 - INFO - Streamed logs:\n")
    print("    Loading weights: 100%|#####| 103/103")
    print("    some library warning", end="")
    print("")
    (run / task / "executor_output.json").write_text(json.dumps(
        {"artifacts": {"metrics": {"artifacts": [{"name": "metrics",
                                                  "metadata": metadata or {}}]}}}))
    colour = GREEN if status == "SUCCESS" else RED
    print(f"04:00:01.000 - INFO - Task {CYAN}'{task}'{RESET} finished with status "
          f"{colour}{status}{RESET}")
    print(f"04:00:01.001 - INFO - Task '{task}' outputs:\n    metrics: Metrics( name='metrics',")


def test_steps_go_to_their_logs_and_one_line_each_to_the_terminal(tmp_path):
    terminal = io.StringIO()
    run = tmp_path / "kpdistill-2026-01-01-00-00-00-000000"
    with StepConsole(tmp_path, terminal=terminal) as console:
        assert sys.stdout is console
        print("04:00:00.000 - INFO - Running pipeline: \x1b[95m'kpdistill'\x1b[0m")
        run.mkdir()
        _kfp_task(console, run, "judge-pairs", metadata={"pairs": 96, "pairs_per_s": 1.217})
        _kfp_task(console, run, "evaluate-2", metadata={"click_only.test.ndcg@10": 0.6587})
    assert sys.stdout is not console
    lines = terminal.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert "judge-pairs" in lines[0] and "started" in lines[0]
    assert "done in" in lines[1] and "pairs labelled 96, pairs/s 1.22" in lines[1]
    assert "test nDCG@10 0.659" in lines[3]
    assert console.run_dir == run
    log = (run / "logs" / "judge-pairs.log").read_text()
    assert "Loading weights" in log and "some library warning" in log
    assert "outputs:" in log and "\x1b[" not in log
    assert "Running pipeline" in (run / "logs" / "pipeline.log").read_text()
    assert [s.status for s in console.steps] == ["SUCCESS", "SUCCESS"]


def test_a_failed_step_shows_the_tail_of_its_log(tmp_path):
    terminal = io.StringIO()
    run = tmp_path / "kpdistill-2026-01-01-00-00-00-000000"
    with StepConsole(tmp_path, terminal=terminal):
        print("Running pipeline: 'kpdistill'")
        run.mkdir()
        _kfp_task(None, run, "score-pairs", status="FAILURE")
    out = terminal.getvalue()
    assert "FAILED" in out and "some library warning" in out
    assert str(run / "logs" / "score-pairs.log") in out


def test_verbose_streams_everything(tmp_path):
    terminal = io.StringIO()
    with StepConsole(tmp_path, verbose=True, terminal=terminal):
        print("Running pipeline: 'kpdistill'")
        (tmp_path / "kpdistill-x").mkdir()
        _kfp_task(None, tmp_path / "kpdistill-x", "prepare-data", metadata={"items": 10})
    out = terminal.getvalue()
    assert "Loading weights" in out and "items 10" in out


def test_key_figures_per_step_kind():
    assert step_kind("train-bi-encoder-2") == "train-bi-encoder"
    assert key_figures("build-index", {"keyphrases": 3630, "dim": 384}) == \
        "keyphrases indexed 3630"
    assert key_figures("unknown-step", {"x": 1}) == ""
    # every label from the store: the count says so, and no rate of nothing is shown
    assert key_figures("judge-pairs", {"pairs": 96, "judged_now": 0, "pairs_per_s": 0.0}) == \
        "pairs labelled 96, judged now (rest from the label store) 0"


def test_the_end_line_gives_the_steps_cpu_seconds_and_the_load(tmp_path):
    """The CPU of the step's processes (kfp.local waits for them before the end line), so a
    step that does more work is told from a busy machine."""
    import subprocess

    terminal = io.StringIO()
    run = tmp_path / "kpdistill-2026-01-01-00-00-00-000000"
    burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    with StepConsole(tmp_path, terminal=terminal) as console:
        print("Running pipeline: 'kpdistill'")
        run.mkdir()
        print("04:00:00.000 - INFO - Executing task 'evaluate'")
        subprocess.run([sys.executable, "-c", burn], check=True)
        (run / "evaluate").mkdir()
        print("04:00:01.000 - INFO - Task 'evaluate' finished with status SUCCESS")
        _kfp_task(console, run, "export-model")  # no child process: next to no CPU
    evaluate, export = console.steps
    assert 0.5 <= evaluate.cpu_seconds < 5, evaluate
    assert 0 <= export.cpu_seconds < 0.5, export
    lines = terminal.getvalue().splitlines()
    assert "(CPU    0 s, load " in lines[3] or "(CPU    0 s)" in lines[3], lines[3]
    assert "evaluate" in lines[1] and "(CPU " in lines[1], lines[1]


def test_two_shards_side_by_side_each_get_their_own_cpu_seconds(tmp_path):
    """Shard A starts, shard B starts, A's process is reaped and A ends, then B's: B's end line
    counts B's CPU alone, not A's too (children's CPU is only counted once reaped)."""
    import subprocess

    run = tmp_path / "kpdistill-2026-01-01-00-00-00-000000"
    burn = ("import time\nend = time.process_time() + {}\n"
            "while time.process_time() < end: pass")
    with StepConsole(tmp_path, terminal=io.StringIO()) as console:
        print("Running pipeline: 'kpdistill'")
        run.mkdir()
        print("04:00:00.000 - INFO - Executing task 'judge-pairs'")
        print("04:00:00.001 - INFO - Executing task 'judge-pairs'")
        subprocess.run([sys.executable, "-c", burn.format(0.8)], check=True)  # shard A
        print("04:00:01.000 - INFO - Task 'judge-pairs' finished with status SUCCESS")
        subprocess.run([sys.executable, "-c", burn.format(0.3)], check=True)  # shard B
        print("04:00:02.000 - INFO - Task 'judge-pairs' finished with status SUCCESS")
    first, second = console.steps
    assert 0.8 <= first.cpu_seconds < 3, first
    assert 0.3 <= second.cpu_seconds < 0.8, second  # not A's 0.8 s as well


def test_shards_printing_from_threads_at_once_lose_no_end_line(tmp_path):
    """kfp.local runs a ParallelFor's shards on threads that print to the console together."""
    import threading

    terminal = io.StringIO()
    console = StepConsole(tmp_path, terminal=terminal)
    for _ in range(2 * 40):
        console.write("12:00:00.000 - INFO - Executing task 'score-pairs'\n")

    def shard():
        for _ in range(40):
            # a logging handler writes each record whole, in one call
            console.write("12:00:01.000 - INFO - Task 'score-pairs' finished with status "
                          "SUCCESS\n")
            console.write("    a streamed line of the shard " * 20 + "\n")

    threads = [threading.Thread(target=shard) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s.status for s in console.steps].count("SUCCESS") == 80


def test_kfp_logging_contexts_interleaved_on_threads_restore_print_and_keep_logging():
    """The order two ParallelFor shards can take through kfp.local's dispatch: A in, B in,
    A out, B logs its end, B out. kfp's own contexts, unguarded, leave ``print`` indented for
    good; shared (thread_safe_kfp_logging) they restore it and B's line is still logged."""
    import builtins
    import logging

    from kfp.local import logging_utils

    from pipelines.console import thread_safe_kfp_logging

    def interleave() -> str:
        out = io.StringIO()
        saved_stdout, sys.stdout = sys.stdout, out
        try:
            a_log, b_log = logging_utils.local_logger_context(), logging_utils.local_logger_context()
            a_ind, b_ind = logging_utils.indented_print(), logging_utils.indented_print()
            a_log.__enter__(), a_ind.__enter__()
            b_log.__enter__(), b_ind.__enter__()
            a_ind.__exit__(None, None, None), a_log.__exit__(None, None, None)
            logging.info("Task 'b' finished with status SUCCESS")
            b_ind.__exit__(None, None, None), b_log.__exit__(None, None, None)
            print("after")
        finally:
            sys.stdout = saved_stdout
        return out.getvalue()

    original_print, root = builtins.print, logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        broken = interleave()
        assert builtins.print is not original_print  # the kfp race itself: print left patched
    finally:
        builtins.print = original_print
        root.handlers[:], root.level = handlers, level
    with thread_safe_kfp_logging():
        text = interleave()
    assert builtins.print is original_print and root.handlers == handlers
    assert "Task 'b' finished with status SUCCESS" in text
    assert text.endswith("\nafter\n") and "    after" not in text
    assert "    after" in broken
