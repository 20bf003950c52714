# Switchboard. `make test` is what CI runs (.ci/run); see DEVELOPERS.md.
SHELL := /bin/bash
GO ?= go
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
# Brings up PostgreSQL and Redis (private instances when nothing answers) and
# exports DATABASE_URL / REDIS_URL to the command that follows.
WITH_SERVICES = set -a && eval "$$(scripts/services.sh up)" && set +a &&
FUZZTIME ?= 10m
BENCHCOUNT ?= 5

.PHONY: test vet unit bench fuzz faults demo services build clean deb docker docker-context

## test: go vet, then every test with the race detector, against real services
test: vet
	$(WITH_SERVICES) $(GO) test -race -timeout 9m ./...

vet:
	$(GO) vet ./...

## unit: the tests without the race detector (quicker while working)
unit:
	$(WITH_SERVICES) $(GO) test -timeout 9m ./...

## build: the three shipped binaries into ./bin, statically linked
## (CGO_ENABLED=0: the Dockerfile copies them into an image FROM scratch);
## cmd/demo is make demo's
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/switchboard ./cmd/smscsim ./cmd/smppbench

## deb: the Debian package (dpkg-deb) in bin/deb/: the three binaries, the
## systemd unit, an example config under /etc/switchboard/ (packaging/deb.sh)
deb:
	packaging/deb.sh bin/deb $(DEB_VERSION)

## docker-context: what the Dockerfile copies: the static binaries, CA
## certificates and tzdata from this machine, into bin/rootfs/
docker-context: build
	rm -rf bin/rootfs && mkdir -p bin/rootfs/usr/bin bin/rootfs/etc/ssl/certs bin/rootfs/usr/share bin/rootfs/etc/switchboard
	cp bin/switchboard bin/smscsim bin/smppbench bin/rootfs/usr/bin/
	cp /etc/ssl/certs/ca-certificates.crt bin/rootfs/etc/ssl/certs/
	cp -r /usr/share/zoneinfo bin/rootfs/usr/share/
	cp configs/switchboard.yaml bin/rootfs/etc/switchboard/

## docker: the image (IMAGE, default switchboard:latest) FROM scratch; needs a
## Docker daemon
IMAGE ?= switchboard:latest
docker: docker-context
	docker build -t $(IMAGE) .

## bench: Go benchmarks, medians over BENCHCOUNT runs (compare with benchstat)
bench:
	$(WITH_SERVICES) $(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.txt

## fuzz: every fuzz target for FUZZTIME each (default 10m); new inputs are
## copied into the package's testdata/fuzz so they are committed
fuzz:
	@set -e; for dir in $$($(GO) list -f '{{.Dir}}' ./...); do \
	  for f in $$(cd $$dir && $(GO) test -list '^Fuzz' . | grep '^Fuzz' || true); do \
	    echo "== $$dir $$f ($(FUZZTIME))"; \
	    (cd $$dir && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) .); \
	    scripts/fuzz-corpus.sh $$dir $$f; \
	  done; \
	done

## demo: the whole engine against the carrier simulator, end to end
## (DEMO_KEEP=1 keeps it running)
## (the demo is built and exec'd, so a signal to make reaches it: it stops the
## engine and simulator on SIGINT, SIGTERM, or when make dies)
demo: build
	$(GO) build -o bin/demo ./cmd/demo
	$(WITH_SERVICES) exec bin/demo --bin bin $(if $(DEMO_KEEP),--keep,)

## faults: the fault suite in its long form (SB_FAULT_SCALE=3), then a table:
## fault, load held, accepted, lost (must be 0), duplicates, violations (must be 0)
faults:
	$(WITH_SERVICES) SB_FAULT_SCALE=3 $(GO) test -count=1 -timeout 30m -run 'TestFault' -v ./engine/ ./cmd/switchboard/ | tee faults.txt | grep -E '^(--- |ok|FAIL)'
	@echo; printf 'fault|load held|accepted|lost|duplicates|violations\n' > faults.table; \
	  grep -o 'FAULTROW|.*' faults.txt | cut -d'|' -f2- >> faults.table; column -t -s'|' faults.table

services:
	@scripts/services.sh up

clean:
	rm -rf bin bench.txt

## bench-suite: every smppbench scenario with its defaults (BENCH_FLAGS=--short
## for seconds each); reports in bin/bench/SCENARIO/ (see bench/README.md)
.PHONY: bench-suite
bench-suite: build
	$(WITH_SERVICES) for s in window advise throttle e2e inbound soak fairness; do \
	  bin/smppbench $$s $(BENCH_FLAGS) --out bin/bench/$$s || exit 1; done

## screenshots: the README's console screenshots (docs/inbox.png,
## docs/usage.png, docs/binds.png) from a real engine in headless Chromium
.PHONY: screenshots
screenshots:
	$(WITH_SERVICES) $(GO) test -count=1 -run 'TestConsoleScreenshots' ./engine/ -args -update-screenshots
