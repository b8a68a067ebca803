"""``python -m bench.reliability.probe TARGET DURATION_S INTERVAL_S``: health checks in their own
process; prints one JSON line (checks, answers, p50/p99/max ms)."""

import json
import sys

from bench.reliability.client import health_probe

if __name__ == "__main__":
    target, duration, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(health_probe(target, duration, interval)), flush=True)
