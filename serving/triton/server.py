"""Start, wait for and stop a real ``tritonserver`` on a model repository.

The binary comes from PATH when one is installed (NVIDIA's Triton containers), else from
``KPDISTILL_TRITON_ROOT`` (a folder holding an unpacked ``pytriton/`` and
``nvidia_pytriton.libs/``), else from the ``nvidia-pytriton`` wheel installed in this environment.
The wheel's server only has the Python backend; it is run with a backend folder holding that
backend and the stub for this interpreter's Python version, ``LD_LIBRARY_PATH`` starting with this
interpreter's LIBDIR (or the stub loads the system's libpython) and ``PYTHONPATH`` naming this
environment's site-packages (so ``model.py`` files import numpy, tokenizers, onnxruntime, torch).

    with TritonServer(Path("artifacts/model_repository")) as server:
        client = tritonclient.grpc.InferenceServerClient(server.grpc_url)

CLI (``make triton``): ``python -m serving.triton.server --model-repository DIR``; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ENV_ROOT = "KPDISTILL_TRITON_ROOT"
ENV_STUB_SITE = "KPDISTILL_TRITON_STUB_SITE"
STUB_NUMPY_MAJOR = "1"


class TritonError(RuntimeError):
    """The server could not be found, started, or did not become ready."""


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    backend_dir: Path | None  # None: the server's default (a full NVIDIA install)
    library_dirs: tuple[Path, ...] = ()
    stub_site: Path | None = None  # the server's working directory, searched first by the stub


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _python_backend_dir(server_root: Path) -> Path:
    """A backend folder ``python/`` with the backend library, its utils and our Python's stub."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = server_root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise TritonError(f"the Triton wheel has no Python-backend stub for Python {version}")
    backends = Path(tempfile.gettempdir()) / f"kpdistill-triton-backends-{os.getuid()}-{version}"
    python_dir = backends / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    sources = {"libtriton_python.so": server_root / "backends" / "python" / "libtriton_python.so",
               "triton_python_backend_utils.py":
                   server_root / "backends" / "python" / "triton_python_backend_utils.py",
               "triton_python_backend_stub": stub}
    for name, src in sources.items():
        link = python_dir / name
        if not (link.is_symlink() and link.resolve() == src.resolve()):
            link.unlink(missing_ok=True)
            link.symlink_to(src)
    return backends


def find_tritonserver() -> TritonInstall:
    """PATH first, then ``$KPDISTILL_TRITON_ROOT``, then the nvidia-pytriton wheel."""
    on_path = shutil.which("tritonserver")
    if on_path:
        return TritonInstall(Path(on_path), None)
    if os.environ.get(ENV_ROOT):
        root = Path(os.environ[ENV_ROOT])
    else:
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise TritonError("no tritonserver on PATH, no $KPDISTILL_TRITON_ROOT and the "
                              "nvidia-pytriton wheel is not installed (make venv)")
        root = Path(next(iter(spec.submodule_search_locations))).parent
    server_root = root / "pytriton" / "tritonserver"
    binary = server_root / "bin" / "tritonserver"
    if not binary.is_file():
        raise TritonError(f"{binary} not found")
    return TritonInstall(binary, _python_backend_dir(server_root),
                         (root / "nvidia_pytriton.libs",), stub_site())


def stub_site() -> Path:
    """Folder holding numpy 1 for the wheel's Python-backend stub (``make triton-stub``).

    The stub of Triton 2.51 is built against the numpy 1 ABI; with numpy 2 the tensors it hands
    to ``model.py`` arrive corrupted. Its embedded interpreter ignores PYTHONPATH but searches
    its working directory first, so the server runs from this folder.
    """
    path = Path(os.environ.get(ENV_STUB_SITE) or Path(sys.prefix) / "triton-stub")
    versions = sorted(path.glob("numpy-*.dist-info"))
    if not versions or not versions[0].name.startswith(f"numpy-{STUB_NUMPY_MAJOR}."):
        raise TritonError(f"{path} holds no numpy {STUB_NUMPY_MAJOR}.x for the Triton Python "
                          "stub; run `make triton-stub` (pip install --no-deps --target "
                          f"{path} -r requirements/triton-stub.txt)")
    return path


def server_environment(install: TritonInstall) -> dict[str, str]:
    env = dict(os.environ)
    libdirs = [sysconfig.get_config_var("LIBDIR") or "", *map(str, install.library_dirs)]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [d for d in libdirs if d] + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p])
    paths = [*site.getsitepackages(), *[p for p in env.get("PYTHONPATH", "").split(":") if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class TritonServer:
    """One ``tritonserver`` process bound to 127.0.0.1 (free ports chosen when None)."""

    def __init__(self, model_repository: Path, grpc_port: int | None = None,
                 http_port: int | None = None, metrics_port: int | None = None,
                 log_file: Path | None = None, model_control_mode: str = "none",
                 poll_secs: int = 1, extra_args: tuple[str, ...] = ()):
        self.model_repository = Path(model_repository).resolve()
        if not self.model_repository.is_dir():
            raise TritonError(f"model repository {self.model_repository} does not exist")
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.log_file = Path(log_file) if log_file else Path(tempfile.mkstemp(
            prefix="tritonserver-", suffix=".log")[1])
        self.model_control_mode, self.poll_secs = model_control_mode, poll_secs
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen | None = None
        # names this server's Python-backend shared-memory regions, so they can be removed
        # after a crash (a killed server leaves them in /dev/shm)
        self.shm_prefix = f"kpdistill{os.getpid()}p{self.grpc_port}_"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def command(self, install: TritonInstall) -> list[str]:
        cmd = [str(install.binary), f"--model-repository={self.model_repository}",
               "--http-address=127.0.0.1", f"--http-port={self.http_port}",
               "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
               "--metrics-address=127.0.0.1", f"--metrics-port={self.metrics_port}",
               f"--model-control-mode={self.model_control_mode}", "--exit-timeout-secs=20"]
        if self.model_control_mode == "poll":
            cmd.append(f"--repository-poll-secs={self.poll_secs}")
        if install.backend_dir is not None:
            cmd.append(f"--backend-directory={install.backend_dir}")
        cmd.append(f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}")
        return cmd + list(self.extra_args)

    def start(self) -> TritonServer:
        if self.process is not None:
            raise TritonError("server already started")
        install = find_tritonserver()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(self.command(install), stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=server_environment(install),
                                            cwd=install.stub_site,
                                            start_new_session=True)
        return self

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_errors(self, limit: int = 20) -> str:
        """The log's error lines (model load failures), which the tail may not reach."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        errors = [ln for ln in lines if ln.startswith("E") or "failed to load" in ln
                  or "Error" in ln and "NVML" not in ln]
        return "\n".join(errors[:limit])

    def is_ready(self) -> bool:
        url = f"http://{self.http_url}/v2/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def wait_ready(self, timeout_s: float = 120.0) -> TritonServer:
        if self.process is None:
            raise TritonError("server not started")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TritonError(f"tritonserver exited with {self.process.returncode}; log "
                                  f"{self.log_file}; errors:\n{self.log_errors()}\n"
                                  f"tail:\n{self.log_tail(1500)}")
            if self.is_ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise TritonError(f"tritonserver not ready after {timeout_s}s; log {self.log_file}:\n"
                          f"{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGINT (graceful), then SIGKILL of the whole process group after ``timeout_s``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                return -signal.SIGKILL
        code, self.process = self.process.returncode, None
        self.remove_shared_memory()
        return code

    def kill(self) -> int | None:
        """SIGKILL the server and its Python-backend stubs (one process group), reap the server
        and remove its shared-memory regions. For a crashed or hung server."""
        if self.process is None:
            return None
        self._kill_group()  # before the wait: the group id cannot have been reused yet
        with contextlib.suppress(subprocess.TimeoutExpired):  # unkillable (D state): go on
            self.process.wait(10)
        code, self.process = self.process.returncode, None
        self.remove_shared_memory()
        return code

    def _kill_group(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def remove_shared_memory(self) -> list[str]:
        """Delete ``/dev/shm/<shm_prefix>*`` (only this server's regions); returns the names."""
        removed = []
        for path in Path("/dev/shm").glob(f"{self.shm_prefix}*"):
            try:
                path.unlink()
                removed.append(path.name)
            except OSError:
                pass
        return removed

    def __enter__(self) -> TritonServer:
        try:
            return self.start().wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, required=True)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--log-file", type=Path, default=Path("artifacts/tritonserver.log"))
    parser.add_argument("--model-control-mode", default="none", choices=("none", "poll"))
    parser.add_argument("--ready-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    server = TritonServer(args.model_repository, args.grpc_port, args.http_port,
                          args.metrics_port, args.log_file, args.model_control_mode)
    server.start()
    try:
        server.wait_ready(args.ready_timeout)
        print(f"tritonserver ready: grpc {server.grpc_url}  http {server.http_url}  "
              f"log {server.log_file}  (Ctrl-C stops it)", flush=True)
        while server.process is not None and server.process.poll() is None:
            time.sleep(1)
        print(f"tritonserver exited; see {server.log_file}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping tritonserver ...", flush=True)
        return 0
    finally:
        code = server.stop()
        if code is not None:
            print(f"tritonserver stopped (exit code {code})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
