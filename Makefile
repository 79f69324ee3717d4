# OCX — two commands: `make run` (the whole system locally) and `make test`.
GO        ?= go
STAGE     ?= dev
FUNCTIONS := ingest journey rules notify rollup api outbound
# aws-cdk CLI used by deploy/diff; synth needs only Go and Node.
CDK       ?= npx --yes aws-cdk@2.1148.1
# Fuzz budgets are counts, not durations: Go 1.26's fuzz coordinator can
# fail a target with "context deadline exceeded" when a duration ends while
# a worker is minimizing an input (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME  ?= 10000x
FUZZMINIMIZE ?= 100x

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: run reset sign check test vet fuzz build synth diff deploy destroy bench clean demo

## run: start the local stack (moto_server + every function) on 127.0.0.1:8080
run:
	$(GO) run ./cmd/ocx local

## demo: send a month of signed multi-channel traffic to a running `make run`
demo:
	$(GO) run ./cmd/ocx demo

## reset: delete the local stack's state
reset:
	$(GO) run ./cmd/ocx reset

## sign: print a signed curl command for a first webhook (pipe it to sh)
sign:
	@$(GO) run ./cmd/ocx sign

## check: validate channels, teams and rules configuration
check:
	$(GO) run ./cmd/ocx check

# The Go modules: the runtime (functions, local stack, tools), the CDK app
# (infra) and the shipped configuration both embed (infra/config).
MODULES := . infra infra/config

## test: formatting, vet, config check, every test of every module (moto_server, synth + cfn-lint + cdk-nag), fuzz smoke
test: vet check
	$(GO) test -count=1 -timeout 30m ./...
	cd infra && $(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@for m in $(MODULES); do \
	  echo "vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; \
	  (cd $$m && $(GO) mod tidy -diff) || { echo "$$m: go.mod/go.sum drift: run go mod tidy there"; exit 1; }; \
	done

## fuzz: run every fuzz target briefly on top of its seed corpus
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; \
	  done; \
	done

## build: cross-compile every function to .build/<fn>/bootstrap (provided.al2023, arm64),
## with Go's time zone database beside it (ZONEINFO; the image has none)
build:
	@zoneinfo="$$($(GO) env GOROOT)/lib/time/zoneinfo.zip"; \
	for f in $(FUNCTIONS); do \
	  echo "build $$f"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o .build/$$f/bootstrap ./functions/$$f || exit 1; \
	  cp "$$zoneinfo" .build/$$f/zoneinfo.zip || exit 1; \
	done

## synth: synthesize the CDK app for STAGE into cdk.out
synth: build
	rm -rf cdk.out
	$(CDK) synth -q -c stage=$(STAGE)

## diff / deploy / destroy: against the AWS account in your environment
diff: build
	$(CDK) diff -c stage=$(STAGE)

deploy: build
	$(CDK) deploy -c stage=$(STAGE) --require-approval broadening \
	  $(if $(ALARM_EMAIL),-c alarmEmail=$(ALARM_EMAIL)) $(if $(EMAIL_FROM),-c emailFrom=$(EMAIL_FROM))

destroy:
	$(CDK) destroy -c stage=$(STAGE)

## console: build the console (console/ -> internal/console/dist, embedded by
## the api function) from the lockfile's packages; run, test and build need it
console:
	cd console && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run --silent build
run test build: console
.PHONY: console

## bench: benchmarks (ingest handler latency and others)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf .build cdk.out
