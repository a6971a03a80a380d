# agentsight: build, test, bench, demo, install.
# `make demo` and `make test` work on a fresh Debian 12 machine as root: every target
# depends on `deps`, which installs what is missing (apt-get, npm ci) and nothing else.

SHELL := /bin/bash
PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man
CLANG ?= clang
BPFTOOL ?= bpftool

# Debian packages the build, the tests and the demo need (g++, make: node-gyp builds
# better-sqlite3, the store of as-serve; chromium: the browser tests; clickhouse-server: the
# fleet sink's tests, which start their own server).
APT_PKGS := clang llvm libbpf-dev libbpf1 bpftool libelf-dev zlib1g-dev \
            curl python3 gnutls-bin openssl man-db zstd procps iproute2 \
            chromium jq time g++ make wabt tmux golang-go \
            clickhouse-server clickhouse-client podman runc

BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_OBJ := $(BPF_SRC:.bpf.c=.bpf.o)
BPF_HDR := $(wildcard bpf/*.h)

.PHONY: all deps apt-deps build bpf ts wasm ui test bench demo install clean agents

all: build

deps: .stamp/apt node_modules/.package-lock.json

.stamp/apt: Makefile
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >&2; \
	fi
	@mkdir -p .stamp && touch $@

node_modules/.package-lock.json: package-lock.json $(wildcard packages/*/package.json)
	npm ci --no-audit --no-fund >&2
	@touch $@

build: deps bpf ts ui

# vmlinux.h is generated from the running kernel's BTF (CO-RE relocates field offsets at
# load time, so any BTF-enabled kernel can load objects built against it).
bpf/vmlinux.h:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

bpf/%.bpf.o: bpf/%.bpf.c bpf/vmlinux.h $(BPF_HDR)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Ibpf -c $< -o $@

bpf: $(BPF_OBJ)

# The web UI of as-serve: type-checked, then bundled by esbuild into packages/ui/dist.
ui: deps
	npx tsc -p packages/ui/tsconfig.json
	node packages/ui/build.mjs

ts: deps
	npx tsc -b
	@chmod +x dist/tools/*.js
	@$(MAKE) --no-print-directory wasm

# WebAssembly next to the compiled TypeScript that loads it (wat2wasm: Debian's wabt).
WAT := $(wildcard packages/*/src/*.wat)
wasm: $(patsubst %.wat,%.wasm,$(subst /src/,/dist/,$(WAT)))
.SECONDEXPANSION:
packages/%.wasm: $$(subst /dist/,/src/,packages/%.wat)
	wat2wasm $< -o $@

# Real agents/runtimes the kernel tests run (pinned; not dependencies of the tools):
# Bun (static BoringSSL) and the Claude Code native binary (a Bun executable), in .cache/agents.
AGENT_PKGS := @oven/bun-linux-x64@1.4.5 @anthropic-ai/claude-code@2.1.197 @anthropic-ai/claude-code-linux-x64@2.1.197
GEMINI_PKG := @google/gemini-cli@0.61.0
CODEX_PKG := @openai/codex@0.169.0
# The newest Codex when pinned: the rustls locator is checked on two releases.
CODEX_NEW_PKG := @openai/codex@0.171.0
agents: .cache/agents/.stamp
.cache/agents/.stamp: Makefile
	mkdir -p .cache/agents
	npm install --prefix .cache/agents --no-save --no-audit --no-fund --ignore-scripts $(AGENT_PKGS) >&2
	# A second Bun release, to check the BoringSSL locator across versions.
	mkdir -p .cache/agents/bun-1.3.14
	npm install --prefix .cache/agents/bun-1.3.14 --no-save --no-audit --no-fund --ignore-scripts @oven/bun-linux-x64@1.3.14 >&2
	# Gemini CLI (node bundle) and Codex (static musl + rustls over aws-lc), two releases of
	# it, each in its own prefix so one install does not prune the others.
	mkdir -p .cache/agents/gemini .cache/agents/codex .cache/agents/codex-new
	npm install --prefix .cache/agents/gemini --no-save --no-audit --no-fund --ignore-scripts $(GEMINI_PKG) >&2
	npm install --prefix .cache/agents/codex --no-save --no-audit --no-fund --ignore-scripts $(CODEX_PKG) >&2
	npm install --prefix .cache/agents/codex-new --no-save --no-audit --no-fund --ignore-scripts $(CODEX_NEW_PKG) >&2
	@touch $@

test: build agents
	npx tap $(TAP_FLAGS)

bench: build
	node dist/test/bench/run.js

# ---- The edit loop: format, lint, unit tier with coverage floors ----------------------------
# Biome (pinned in package.json; biome.jsonc says which rules are off and why). `make fmt`
# writes (format, import order, safe lint fixes); `make lint` only checks, as CI does.
# `make check` (typecheck + lint + the unit tier with coverage, about 1-2 minutes) is for the
# edit loop; `make test` stays the full suite.
.PHONY: fmt lint check coverage coverage-update
fmt: deps
	npx biome check --write .

# (Colours only on a terminal: CI logs are read as text.)
lint: deps
	npx biome ci --error-on-warnings $$([ -t 1 ] || echo --colors=off) .

# The unit tier: the packages' own tests, minus those that need root and a kernel (they run in
# `make test`). Coverage runs here, not in `make test`: the full suite spawns tools, agents and
# browsers by the hundred, each of which would write V8 coverage to merge, for figures that
# measure end-to-end reach rather than the unit tests a floor is meant to hold.
KERNEL_UNIT_TESTS := packages/bpf/src/bpf.test.ts
UNIT_TESTS = $(patsubst %.ts,%.js,$(subst /src/,/dist/,$(filter-out $(KERNEL_UNIT_TESTS),$(wildcard packages/*/src/*.test.ts))))

check: lint ts
	npx tsc -p packages/ui/tsconfig.json
	@$(MAKE) --no-print-directory coverage

# Per-package line coverage of the unit tier against .coverage-floors.json (floors only rise:
# `make coverage-update` raises them to what is covered now; commit the file).
UNIT_TAP = npx tap $(TAP_FLAGS) --no-disable-coverage --allow-incomplete-coverage --coverage-report=json-summary --coverage-report=text-summary $(UNIT_TESTS)
coverage: ts
	$(UNIT_TAP)
	node dist/test/coverage-floors.js

coverage-update: ts
	$(UNIT_TAP)
	node dist/test/coverage-floors.js --update

demo: build
	node dist/test/demo.js

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	for t in dist/tools/as-*.js dist/tools/agentsight.js; do \
	  n=$$(basename $$t .js); ln -sf "$(CURDIR)/$$t" $(DESTDIR)$(PREFIX)/bin/$$n; done
	install -m 0644 man/*.1 $(wildcard packages/*/man/*.1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.7 $(DESTDIR)$(MANDIR)/man7/

clean:
	rm -rf dist packages/*/dist bpf/*.o bpf/vmlinux.h .stamp *.tsbuildinfo

# Package layering and import cycles (.dependency-cruiser.cjs); violations kept only until
# fixed are listed in .dependency-cruiser-known-violations.json. Also run by test/layering.test.ts.
.PHONY: deps-check
deps-check: deps
	npx depcruise --config .dependency-cruiser.cjs --ignore-known .dependency-cruiser-known-violations.json packages tools test
