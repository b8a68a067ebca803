"""The launcher itself, and atomic publishing seen from a real server polling its repository."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from components.export.repository import publish_version
from serving.triton import server as launcher
from serving.triton.server import TritonError, TritonServer, find_tritonserver, free_port


def test_find_tritonserver_uses_the_wheel_with_a_python_backend_folder():
    install = find_tritonserver()
    assert install.binary.is_file()
    if install.backend_dir is not None:  # the wheel, not an NVIDIA install on PATH
        stub = install.backend_dir / "python" / "triton_python_backend_stub"
        assert stub.resolve().is_file()
        assert (install.stub_site / "numpy").is_dir()


def test_server_environment_puts_this_interpreters_libdir_first():
    import sysconfig
    env = launcher.server_environment(find_tritonserver())
    assert env["LD_LIBRARY_PATH"].split(":")[0] == sysconfig.get_config_var("LIBDIR")


def test_missing_repository_and_missing_stub_numpy_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(TritonError, match="does not exist"):
        TritonServer(tmp_path / "nowhere")
    monkeypatch.setenv(launcher.ENV_STUB_SITE, str(tmp_path))
    if launcher.shutil.which("tritonserver") is None:  # the wheel path needs the stub numpy
        with pytest.raises(TritonError, match="make triton-stub"):
            find_tritonserver()


def test_ports_are_free_and_local():
    port = free_port()
    server = TritonServer(Path("."), grpc_port=port)
    assert server.grpc_url == f"127.0.0.1:{port}" and server.http_url.startswith("127.0.0.1:")
    assert "--grpc-address=127.0.0.1" in server.command(find_tritonserver())


@pytest.mark.slow
def test_a_server_that_cannot_load_its_models_fails_fast(tmp_path):
    bad = tmp_path / "repo" / "broken"
    (bad / "1").mkdir(parents=True)
    (bad / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: 1\n'
                                      'input [ { name: "X" data_type: TYPE_FP32 dims: [1] } ]\n'
                                      'output [ { name: "Y" data_type: TYPE_FP32 dims: [1] } ]\n')
    (bad / "1" / "model.py").write_text("raise ImportError('no such model')\n")
    server = TritonServer(tmp_path / "repo", log_file=tmp_path / "log")
    started = time.monotonic()
    with pytest.raises(TritonError, match="exited"), server:
        pass
    assert time.monotonic() - started < 60 and server.process is None


class IndexWatcher(threading.Thread):
    """Records every (version, state, reason) of one model the server reports, until stopped."""

    def __init__(self, url: str, model: str):
        super().__init__(daemon=True)
        self.client, self.model = grpcclient.InferenceServerClient(url), model
        self.seen: list[tuple[str, str, str]] = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            for entry in self.client.get_model_repository_index(as_json=True).get("models", []):
                if entry["name"] == self.model:
                    self.seen.append((entry.get("version", ""), entry.get("state", ""),
                                      entry.get("reason", "")))
            time.sleep(0.1)

    def states(self, version: str) -> set[str]:
        return {state for v, state, _ in self.seen if v == version}


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def slow_copy(src: Path, pause_s: float = 0.0, until=None, timeout_s: float = 30.0):
    """Copy a version folder's code, pause (the server polls meanwhile) for ``pause_s`` or
    until ``until()`` holds (at most ``timeout_s``), then its data."""
    def populate(dst: Path) -> None:
        for name in ("model.py", "tokenization.py"):
            shutil.copy2(src / name, dst / name)
        if until is None:
            time.sleep(pause_s)
        else:
            wait_for(until, timeout_s)
        shutil.copytree(src / "tokenizer", dst / "tokenizer")
    return populate


@pytest.mark.slow
def test_polling_server_never_sees_a_half_written_version(model_repository, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(model_repository / "tokenizer", repo / "tokenizer")
    source = model_repository / "tokenizer" / "1"
    server = TritonServer(repo, log_file=tmp_path / "log", model_control_mode="poll",
                          poll_secs=1)
    with server:
        watcher = IndexWatcher(server.grpc_url, "tokenizer")
        watcher.start()
        try:
            publish_version(repo / "tokenizer", 2, slow_copy(source, pause_s=3.0))
            assert wait_for(lambda: "READY" in watcher.states("2"), 60), watcher.seen[-5:]
            assert watcher.states("2") <= {"READY", "LOADING", ""}, watcher.seen
            client = grpcclient.InferenceServerClient(server.grpc_url)
            text = grpcclient.InferInput("TEXT", [1, 1], "BYTES")
            text.set_data_from_numpy(np.array([[b"garden hose"]], dtype=object))
            assert client.infer("tokenizer", [text], model_version="2").as_numpy(
                "input_ids").shape[0] == 1

            # Control: the same slow copy written in place is seen half-written and fails (the
            # copy waits for that, however late the server's poll comes on a busy machine).
            (repo / "tokenizer" / "3").mkdir()
            half_written = lambda: "UNAVAILABLE" in watcher.states("3")  # noqa: E731
            slow_copy(source, until=half_written)(repo / "tokenizer" / "3")
            assert half_written(), watcher.seen[-5:]
        finally:
            watcher.halt.set()
            watcher.join(5)
