"""The gateway's command line: one process, or several on one port.

    python -m serving.gateway               # settings from KPDISTILL_GATEWAY_* (settings.py)
    python -m serving.gateway --workers 4   # 4 processes on one port (workers.py)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from serving.gateway.server import serve
from serving.gateway.settings import GatewaySettings
from serving.gateway.workers import run_workers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.gateway", description=(
        "The kpdistill gateway (settings from KPDISTILL_GATEWAY_* variables, see README)."))
    parser.add_argument("--workers", type=int, default=None, help=(
        "gateway processes sharing the port (default: KPDISTILL_GATEWAY_WORKERS, 1)"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = GatewaySettings(**({} if args.workers is None else {"workers": args.workers}))
    except ValueError as err:
        raise SystemExit(f"kpdistill gateway: {err}") from None
    if settings.workers == 1:
        asyncio.run(serve(settings))
        return
    sys.exit(run_workers(settings))


if __name__ == "__main__":
    main()
