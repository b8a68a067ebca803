#!/usr/bin/env bash
# On the GPU host: unpack the bundle of `python -m bench.serving.h200_bundle` and run
# bench.serving.h200_stack with the real weights it carries. From the repository root:
#
#   bash bench/serving/h200_run.sh BUNDLE_DIR OUT_DIR [h200_stack arguments ...]
#
# OUT_DIR/results gets serving.{json,md} and gateway.{json,md} (this checkout's, with the h200
# keys merged in), OUT_DIR/run.log the output, OUT_DIR/logs.tar.gz Triton's and the gateway's logs.
set -euo pipefail
BUNDLE=$(cd "$1" && pwd)
mkdir -p "$2/results"
OUT=$(cd "$2" && pwd)
shift 2
PY=${PYTHON:-python3}
X=${WORK_DIR:-$BUNDLE/x}
mkdir -p "$X/triton" "$X/perf" "$X/work"
T0=$(date +%s)
tar xJf "$BUNDLE/triton.tar.xz" -C "$X/triton" &
tar xJf "$BUNDLE/perf.tar.xz" -C "$X/perf" &
tar xJf "$BUNDLE/models.tar.xz" -C "$X" &
PIP=(-m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check)
$PY "${PIP[@]}" --target "$X/site" "$BUNDLE"/wheels/*.whl
$PY "${PIP[@]}" --target "$X/stub" "$BUNDLE"/stub/*.whl
wait
export PYTHONPATH="$PWD:$X/site" KPDISTILL_TRITON_ROOT="$X/triton" KPDISTILL_TRITON_STUB_SITE="$X/stub" \
  KPDISTILL_DATA_DIR="$BUNDLE/data" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
$PY -m bench.serving.h200_bundle --fp32 "$X/models/student" "$X/models/cross_encoder"
echo "unpacked in $(( $(date +%s) - T0 )) s"
cp docs/results/serving.json docs/results/serving.md docs/results/gateway.json \
  docs/results/gateway.md "$OUT/results/"
rc=0
$PY -m bench.serving.h200_stack --student "$X/models/student" \
  --cross-encoder "$X/models/cross_encoder" --out "$OUT/results" --workdir "$X/work" \
  --perf-analyzer "$X/perf/bin/perf_analyzer" --extra-lib "$X/perf/lib" \
  --command "bash bench/serving/h200_run.sh BUNDLE OUT $*" "$@" 2>&1 | tee "$OUT/run.log" \
  || rc=$?
tar czf "$OUT/logs.tar.gz" -C "$X/work" $(cd "$X/work" && ls ./*.log 2>/dev/null) 2>/dev/null || true
exit $rc
