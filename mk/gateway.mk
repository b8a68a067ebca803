# Keyphrase index + gRPC gateway (components/indexing, serving/gateway, serving/proto).
INDEX_URI ?= $(ARTIFACTS)/index/keyphrases.db
STUDENT ?=
GATEWAY_PORT ?= 50151
PROTO_SRC := serving/proto/kpdistill/v1/recommender.proto

.PHONY: proto
proto: venv ## Regenerate the gRPC/protobuf Python code beside serving/proto/**/*.proto (committed)
	$(PY) -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. $(PROTO_SRC)

.PHONY: index
index: venv ## Embed the keyphrase universe with STUDENT (default zero-shot MiniLM) into INDEX_URI, switch the alias
	$(PY) -m components.indexing.builder --uri $(INDEX_URI) $(if $(STUDENT),--student $(STUDENT) --model-version $(notdir $(STUDENT)),--model-version minilm-zero-shot)

$(INDEX_URI):
	$(MAKE) index

.PHONY: serve
serve: venv $(TRITON_STUB) $(MODEL_REPOSITORY)/embed_text/config.pbtxt $(INDEX_URI) ## Serve MODEL_REPOSITORY on Triton + the gateway on 127.0.0.1:$(GATEWAY_PORT) (exports and indexes first if needed)
	@test -d $(MODEL_REPOSITORY)/embed_text || { echo "no model repository at $(MODEL_REPOSITORY): make export first"; exit 1; }
	@test -e $(INDEX_URI) || { echo "no index at $(INDEX_URI): run make index first"; exit 1; }
	$(PY) -m serving.gateway.stack --model-repository $(MODEL_REPOSITORY) --milvus-uri $(INDEX_URI) --port $(GATEWAY_PORT)

.PHONY: perf-gateway
perf-gateway: venv $(TRITON_STUB) ## Gateway load test (QPS, p50/p95/p99, stage split) -> docs/results/gateway.{json,md}
	$(PY) -m bench.serving.loadtest --model-repository $(MODEL_REPOSITORY) $(if $(STUDENT),--student $(STUDENT)) --out docs/results

# The figures of record come from the GPU host (H200_STAGE=index bash bench/serving/h200_run.sh,
# 1M keyphrases); on this CPU the student embeds ~100-300 phrases/s, so the default is small.
INDEX_ARGS ?= --sizes 20000 --lite-sizes 5000 --milvus-server --queries 200 --lite-queries 100
INDEX_OUT ?= docs/results
.PHONY: perf-index
perf-index: venv ## The keyphrase index at scale: Milvus server + Lite, index specs vs exact search (INDEX_ARGS) -> INDEX_OUT/gateway.{json,md} (index.*)
	$(PY) -m bench.serving.index_scale $(if $(STUDENT),--student $(STUDENT)) --out $(INDEX_OUT) \
	  --command "$(strip make perf-index INDEX_ARGS='$(INDEX_ARGS)')" $(INDEX_ARGS)

CPU_BOUND_ARGS ?=
.PHONY: perf-cpu
perf-cpu: venv $(TRITON_STUB) ## CPU default vs its bound in one run: direct tokenizer+ONNX Runtime titles/s, gateway sweep, ratio -> docs/results/gateway.{json,md} (cpu.*)
	$(PY) -m bench.serving.cpu_bound --model-repository $(MODEL_REPOSITORY) $(if $(STUDENT),--student $(STUDENT)) \
	  --out docs/results --command "make perf-cpu$(if $(CPU_BOUND_ARGS), CPU_BOUND_ARGS='$(CPU_BOUND_ARGS)')" $(CPU_BOUND_ARGS)

FUZZ_ARGS ?=
.PHONY: fuzz
fuzz: venv $(TRITON_STUB) ## Fuzz/chaos bench of the gateway on a real stack (10k hostile requests, floods, SIGKILLs, 10-min soak) -> docs/results/reliability.{json,md}
	$(PY) -m bench.reliability --model-repository $(MODEL_REPOSITORY) --out docs/results $(FUZZ_ARGS)
