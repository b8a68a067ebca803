# Export to a Triton model repository, serve it with a real tritonserver, load-test it.
PERF_VENV ?= $(VENV)/perf-tools
PERF_STAMP := $(PERF_VENV)/.installed
PERF_ARGS ?=
PERF_NOTES ?= shared 2-core x86_64 CPU (the CI machine), ONNX Runtime encoder, 1 instance; other jobs share the cores

# numpy 1 for the Python-backend stub of the PyPI Triton server (see requirements/triton-stub.txt)
$(TRITON_STUB): requirements/triton-stub.txt | $(STAMP)
	$(BIN)/pip install -q --no-deps --upgrade --target $(VENV)/triton-stub -r requirements/triton-stub.txt
	touch $@

.PHONY: triton-stub
triton-stub: $(TRITON_STUB) ## numpy 1 for the Triton Python-backend stub (.venv/triton-stub)

# `make test` starts a real tritonserver, so it needs the stub's numpy too.
test: $(TRITON_STUB)

.PHONY: export
export: venv ## Export student + cross-encoder (ONNX, parity-checked) -> artifacts/model_repository
	$(PY) -m components.export --out $(MODEL_REPOSITORY)

$(MODEL_REPOSITORY)/embed_text/config.pbtxt:
	$(MAKE) export

.PHONY: triton
triton: venv $(TRITON_STUB) $(MODEL_REPOSITORY)/embed_text/config.pbtxt ## Serve artifacts/model_repository with tritonserver (Ctrl-C stops; log: artifacts/tritonserver.log)
	$(PY) -m serving.triton.server --model-repository $(MODEL_REPOSITORY) --log-file $(ARTIFACTS)/tritonserver.log

# perf_analyzer ships only in tritonclient[all]==2.50.0, which pins protobuf<5 / numpy<2:
# it lives in its own environment, never in .venv.
$(PERF_STAMP): requirements/perf.txt
	test -x $(PERF_VENV)/bin/python || $(PYTHON) -m venv $(PERF_VENV)
	$(PERF_VENV)/bin/pip install -q -r requirements/perf.txt
	@ldconfig -p | grep -q libb64.so.0d || ls /usr/lib/x86_64-linux-gnu/libb64.so.0d >/dev/null 2>&1 || \
	  (apt-get install -y -q libb64-0d || (apt-get update -q && apt-get install -y -q libb64-0d))
	touch $@

.PHONY: perf-env
perf-env: $(PERF_STAMP) ## perf_analyzer in its own environment (.venv/perf-tools)

.PHONY: perf
perf: venv $(TRITON_STUB) $(PERF_STAMP) $(MODEL_REPOSITORY)/embed_text/config.pbtxt ## perf_analyzer sweep of embed_text and encoder on CPU -> docs/results/serving.{json,md}
	$(PY) -m bench.serving.triton_perf --model-repository $(MODEL_REPOSITORY) --perf-venv $(PERF_VENV) \
	  --hardware cpu --notes "$(PERF_NOTES)" --out docs/results --command "$(strip make perf $(PERF_ARGS))" $(PERF_ARGS)
