# The public data: fetch it from its sources into our layout, or verify a data folder (docs/DATA.md).
DATA_OUT ?= $(ARTIFACTS)/data
DATA_FETCH_ARGS ?=

.PHONY: data-verify
data-verify: venv ## Verify the data folder (KPDISTILL_DATA_DIR) against the pinned SHA-256 checksums
	$(PY) -m components.data.fetch --verify-only

.PHONY: data-fetch
data-fetch: venv ## Download the public sources and convert them into DATA_OUT (default artifacts/data), then verify
	$(PY) -m components.data.fetch --out $(DATA_OUT) $(DATA_FETCH_ARGS)
