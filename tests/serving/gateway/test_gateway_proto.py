"""The committed generated code matches the .proto (``make proto`` was run after each edit)."""

import shutil
import subprocess
import sys

from components.settings import REPO_ROOT

PROTO = "serving/proto/kpdistill/v1/recommender.proto"


def test_generated_code_is_up_to_date(tmp_path):
    (tmp_path / PROTO).parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / PROTO, tmp_path / PROTO)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.",
                    "--grpc_python_out=.", PROTO], cwd=tmp_path, check=True)
    for suffix in ("_pb2.py", "_pb2_grpc.py"):
        generated = PROTO.replace(".proto", suffix)
        assert (tmp_path / generated).read_text() == (REPO_ROOT / generated).read_text(), \
            f"{generated} is stale: run make proto"
