#!/usr/bin/env bash
# On the GPU host: unpack the bundle of `python -m bench.serving.h200_bundle` and run
# bench.serving.h200_stack with the real weights it carries. From the repository root:
#
#   bash bench/serving/h200_run.sh BUNDLE_DIR OUT_DIR [h200_stack arguments ...]
#
# OUT_DIR/results gets serving.{json,md} and gateway.{json,md} (this checkout's, with the h200
# keys merged in), OUT_DIR/run.log the output, OUT_DIR/logs.tar.gz Triton's and the gateway's logs.
#
# H200_STAGE=index runs the index at scale instead (bench.serving.index_scale: the Milvus 2.3
# server of the bundle's wheels and Milvus Lite, the student embedding on the GPU), after the
# same unpack; the arguments go to it, e.g.
#
#   H200_STAGE=index bash bench/serving/h200_run.sh BUNDLE_DIR OUT_DIR --sizes 1000000 \
#     --lite-sizes 100000 --milvus-server --device cuda --queries 1000 --budget-s 420
#
# OUT_DIR/results/gateway.{json,md} then get the index keys and section, OUT_DIR/logs.tar.gz
# the Milvus server's logs.
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
if [ "${H200_STAGE:-stack}" = index ]; then
  rm -rf "$X/work/index"
  TOKENIZERS_PARALLELISM=true $PY -m bench.serving.index_scale --student "$X/models/student" \
    --out "$OUT/results" --workdir "$X/work/index" \
    --command "H200_STAGE=index bash bench/serving/h200_run.sh BUNDLE OUT $*" "$@" 2>&1 \
    | tee "$OUT/run.log" || rc=$?
  tar czf "$OUT/logs.tar.gz" -C "$X/work/index" $(cd "$X/work/index" && find . -name '*.log') \
    2>/dev/null || true
  rm -rf "$X/work/index"
  exit $rc
fi
$PY -m bench.serving.h200_stack --student "$X/models/student" \
  --cross-encoder "$X/models/cross_encoder" --out "$OUT/results" --workdir "$X/work" \
  --perf-analyzer "$X/perf/bin/perf_analyzer" --extra-lib "$X/perf/lib" \
  --command "bash bench/serving/h200_run.sh BUNDLE OUT $*" "$@" 2>&1 | tee "$OUT/run.log" \
  || rc=$?
tar czf "$OUT/logs.tar.gz" -C "$X/work" $(cd "$X/work" && ls ./*.log 2>/dev/null) 2>/dev/null || true
exit $rc
