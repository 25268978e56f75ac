# mcpauthd: common entry points. `make test` is what CI runs (.ci/run).
.PHONY: test conformance build run lint deps dist

# Everything: deps, gofmt, vet, staticcheck, go test -race (keyring session), conformance.
test:
	scripts/test.sh

# The MCP conformance suite against ./internal/conformance: the auth scenarios (EXTENSIONS=0 leaves out the
# extensions suite) and the other client scenarios through bin/mcpauthd proxy.
conformance:
	scripts/conformance.sh

# Both programs into bin/: mcpauthd (the front users type) and mcpauthd-engine beside it.
build:
	go build -o bin/ ./cmd/mcpauthd ./cmd/mcpauthd-engine

# The whole program (the front is only a fast path for token and headers).
run:
	go run ./cmd/mcpauthd-engine

# gofmt, go vet and staticcheck only (no tests).
lint:
	@files=$$(find . \( -path ./.git -o -path ./tools/node_modules -o -path ./bin -o -path ./results \
		-o -name testdata -o -name vendor \) -prune -o -name '*.go' -type f -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt: needs formatting:"; echo "$$files"; exit 1; fi
	go vet ./...
	@if go mod edit -json | jq -e '.Tool // [] | any(.Path == "honnef.co/go/tools/cmd/staticcheck")' >/dev/null; then \
		echo go tool staticcheck ./...; go tool staticcheck ./...; \
	else \
		echo go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; \
	fi

# Install the test dependencies (Debian packages, tools/node_modules, staticcheck).
deps:
	scripts/install-test-deps.sh

# Release artifacts in dist/: a tar.gz per OS/arch, .deb and .rpm for Linux (scripts/dist.sh).
dist:
	scripts/dist.sh
