# Strata — build, test and check. `make help` lists the targets.
GO       ?= go
PKGS     := ./...
FUZZTIME ?= 30s

.PHONY: help build release test check standalone bench fuzz generate clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/strata
	$(GO) build -o bin/strata ./cmd/strata

# release is the build of the container image and of the systemd install: a static binary (no
# cgo, so it runs on distroless/static or any Linux), without local paths. deploy/Dockerfile runs
# it; cmd/strata's TestDeployImage runs the Dockerfile's make line as written.
OUT ?= bin/strata
release: ## build a static, path-free $(OUT) (what deploy/Dockerfile ships)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(OUT) ./cmd/strata

# Three tests measure what the race detector distorts: a valid login's latency under a flood of
# wrong ones (checked against its real bound only without it), a 96 MB message through the
# broker (skipped under it) and what the streamed runtime view allocates (its sync.Pool drops
# encoders at random under it); they run once more without it.
test: ## run every test with the race detector (fuzz targets run their seed corpus), then the three size, latency and allocation tests without it
	$(GO) test -race -timeout 12m $(PKGS)
	$(GO) test -count=1 -run '^(TestWrongPasswordFloodKeepsValidUsers|TestLargeMessage|TestRuntimeViewStreamAllocations)$$' ./internal/app ./internal/bus ./manager

# staticcheck is pinned in go.mod as a tool (go get -tool), so `go tool staticcheck` runs the
# version the module records; staticcheck.conf files turn checks off where a directory says why.
check: standalone ## standalone, gofmt, go vet, staticcheck, go.mod drift and the dependency-direction rule of docs/architecture.md
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '/gen/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	@cp go.mod /tmp/strata-go.mod.bak; cp go.sum /tmp/strata-go.sum.bak; $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/strata-go.mod.bak || ! cmp -s go.sum /tmp/strata-go.sum.bak; then \
	    cp /tmp/strata-go.mod.bak go.mod; cp /tmp/strata-go.sum.bak go.sum; echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; fi
	$(GO) run ./internal/depcheck

standalone: ## fail if a tracked file refers to the reference folder beside the repository
	@# The patterns are bracketed so that this line does not match itself.
	@rc=0; git grep -n -e '[.][.]/shared' -e '/work/s[h]ared' -- . || rc=$$?; \
	  if [ $$rc -eq 0 ]; then echo "standalone: the tracked files above refer to a folder outside the repository, which a clone does not have;"; \
	    echo "the repo must stand alone: copy test data into the package's testdata/ and cite docs/ instead"; exit 1; fi; \
	  if [ $$rc -ne 1 ]; then echo "standalone: git grep failed ($$rc)"; exit 1; fi

bench: ## run the micro-benchmarks beside the code and in bench/
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

generate: ## regenerate the Thrift code from the IDL (needs thrift-compiler)
	$(GO) generate ./internal/databridge/...

clean: ## remove build output
	rm -rf bin
