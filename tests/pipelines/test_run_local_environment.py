"""What every step of a local run inherits from the runner's environment."""

import subprocess
import sys

from pipelines.run_local import set_step_environment


def test_steps_wait_for_work_asleep_unless_the_caller_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    set_step_environment()
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['OMP_WAIT_POLICY'])"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "PASSIVE"

    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    set_step_environment(environ)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}
