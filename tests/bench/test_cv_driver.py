"""The driver's stage order: LoRA beside the students, the report only after both."""

import threading
import time

import bench.cv.__main__ as driver
from bench.cv.config import CONFIG_DIR


def test_students_run_beside_lora_and_finish_before_the_report(tmp_path, monkeypatch):
    events, lock = [], threading.Lock()

    def fake_run(self, stage):
        with lock:
            events.append(f"{stage}:start")
        time.sleep(0.3 if stage == "students" else 0.01)
        with lock:
            events.append(f"{stage}:end")

    monkeypatch.setattr(driver.Runner, "_run", fake_run)
    driver.main(["--config", str(CONFIG_DIR / "smoke.yaml"), "--work", str(tmp_path),
                 "--stages", "pool", "students", "lora", "report"])
    assert events.index("lora:start") < events.index("students:end")  # side by side
    assert events.index("report:start") > events.index("students:end")
    assert events.index("students:start") > events.index("pool:end")


def test_students_wait_for_the_lora_judges_when_they_are_the_teacher(tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(driver.Runner, "_run", lambda self, stage: events.append(stage))
    config = tmp_path / "c.yaml"
    config.write_text((CONFIG_DIR / "h200-lora-teacher.yaml").read_text())
    driver.main(["--config", str(config), "--work", str(tmp_path), "--stages", "pool",
                 "students", "lora", "report"])
    assert events == ["pool", "lora", "students", "report"]


def test_the_judge_is_released_before_students_that_run_alone(tmp_path, monkeypatch):
    held = []
    monkeypatch.setattr(driver.Runner, "_run",
                        lambda self, stage: held.append((stage, self.judge is not None)))
    monkeypatch.setattr(driver.Runner, "loaded_judge", lambda self: self.judge)
    original_init = driver.Runner.__init__

    def init(self, config, args):
        original_init(self, config, args)
        self.judge = object()  # as the judge and LoRA stages leave it

    monkeypatch.setattr(driver.Runner, "__init__", init)
    config = tmp_path / "c.yaml"
    config.write_text((CONFIG_DIR / "h200-lora-teacher.yaml").read_text())
    driver.main(["--config", str(config), "--work", str(tmp_path), "--stages", "lora",
                 "students"])
    assert held == [("lora", True), ("students", False)]
