# The two commands of the README: `make run` and `make test`. Everything else is a helper.
BUILD ?= build
SAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
NEON_BUILD ?= build-neon
JOBS ?= $(shell nproc)
HOST ?= 127.0.0.1
PORT ?= 8080
FUZZ_SECONDS ?= 30
DEMO_MODEL ?= models/demo-qwen2.5-tiny-q8_0.gguf
WERROR := $(if $(CI),ON,OFF)

.PHONY: all deps serve-deps build serve-build test unit-test san-test fuzz-test neon-test avx2-test peer-test run demo-model clean

all: build

deps:
	./scripts/install-deps.sh

# What `make run` needs: the compiler and the libraries hearth links, no test toolchains.
serve-deps:
	./scripts/install-deps.sh --serve

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DHEARTH_WERROR=$(WERROR) -DHEARTH_TESTS=ON
	cmake --build $(BUILD) -j $(JOBS)

# The hearth binary alone (no tests, so no GoogleTest needed to configure).
serve-build: serve-deps
	cmake -S . -B $(BUILD) -G Ninja -DHEARTH_WERROR=$(WERROR) -DHEARTH_TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS) --target hearth

# The prebuilt llama.cpp/ggml libraries (installed with the npm peers) that kernel tests compare with.
GGML_LIB_DIR := $(abspath tests/peers/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64)

unit-test: build
	cd $(BUILD) && HEARTH_GGML_LIB_DIR=$(GGML_LIB_DIR) ctest --output-on-failure -j $(JOBS)

# Parsers (model files, API requests) and their malformed-input corpora, and the CPU backend op by
# op (kernels through the interface), the key store, quotas and metering, and the model pool, under ASan+UBSan.
san-test: deps
	cmake -S . -B $(SAN_BUILD) -G Ninja -DHEARTH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DHEARTH_WERROR=$(WERROR)
	cmake --build $(SAN_BUILD) -j $(JOBS) --target test_gguf test_safetensors test_api test_backend test_grammar test_chat test_tenants test_server
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS) -R '^(Gguf|Safetensors|Malformed|Api|CpuBackendOps|Anthropic|Responses|Gbnf|Matcher|Regex|JsonSchemaToGbnf|OutputParser|DetectOutputFormats|PrefixRules|ToolGrammar|ToolRequests|Tenants|Tenancy|Limiter|Meter|ModelPool)'

# libFuzzer targets for the GGUF, safetensors, tokenizer.json and OpenAI request parsers, a bounded time each.
fuzz-test: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DHEARTH_FUZZ=ON -DHEARTH_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The AArch64 NEON kernels, cross-built and tested under qemu-user against the reference.
neon-test: deps
	./tests/neon/run.sh $(NEON_BUILD)

# The x86 kernels' AVX2 builds under qemu-user emulating a CPU without AVX-512.
avx2-test: build
	./tests/avx2/run.sh $(BUILD)

# Checks against third-party implementations (llama.cpp via node-llama-cpp, @huggingface/gguf).
peer-test: build
	HEARTH_BIN=$(abspath $(BUILD))/src/hearth node --test tests/peers/

test: unit-test san-test fuzz-test neon-test avx2-test peer-test

demo-model: serve-build
	@mkdir -p models
	@[ -f $(DEMO_MODEL) ] || $(BUILD)/src/hearth mkmodel --preset qwen2.5-tiny --type q8_0 -o $(DEMO_MODEL)

run: serve-build demo-model
	$(BUILD)/src/hearth serve -m $(or $(MODEL),$(DEMO_MODEL)) --host $(HOST) --port $(PORT)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD) $(NEON_BUILD)
