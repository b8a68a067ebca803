"""A real Milvus server (standalone, embedded etcd, local storage) from the ``milvus`` PyPI package.

Every role's address is set to 127.0.0.1 and every port is a free one, so the server is only
reachable from this machine. Used by server-mode tests and ``make serve MILVUS=server``.

    with MilvusStandalone(data_dir) as milvus:
        MilvusClient(milvus.uri)
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 90.0


def _loopback_template(base: Path) -> Path:
    """The package's config template with each role's empty ``ip:`` set to loopback."""
    import milvus

    source = Path(milvus.__file__).parent / "data" / "config.yaml.template"
    text = re.sub(r"^(\s+)ip:\s*(#.*)?$", rf"\1ip: {LOOPBACK} \2", source.read_text(),
                  flags=re.MULTILINE)
    out = base / "config.yaml.template"
    out.write_text(text)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class MilvusStandalone:
    """Start/stop one Milvus 2.3 standalone server on loopback; data kept in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or _free_port()
        self._server = None

    @property
    def uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> MilvusStandalone:
        import milvus
        from milvus import MilvusServer, MilvusServerConfig

        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = MilvusServerConfig(template=str(_loopback_template(self.data_dir)),
                                    data_dir=str(self.data_dir / "data"))
        # set only when the package's own template is used; ours is a patched copy of it
        config.glog_conf_file = str(Path(milvus.__file__).parent / "data" / "glog.conf")
        self._server = MilvusServer(config, wait_for_started=False, proxy_port=self.port)
        self._server.start()
        self._server.wait_started(timeout=int(timeout_s * 1000))
        self._wait_serving(timeout_s)
        return self

    def _wait_serving(self, timeout_s: float) -> None:
        """The health endpoint answers before the proxy takes calls: wait for a real one."""
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client = MilvusClient(self.uri, timeout=5)
                client.list_collections()
                client.close()
                return
            except Exception as err:  # the proxy refuses until its coordinators are up
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"Milvus at {self.uri} not serving: {err}") from err
                time.sleep(0.5)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MilvusStandalone:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
