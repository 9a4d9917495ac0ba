# shepard: `make demo` runs a coordinated rolling restart you can watch; `make test` runs every check.
.PHONY: deps demo test fmt lint rules unit

CARGO ?= cargo

deps:
	@bash scripts/install-deps.sh

demo: deps
	@bash scripts/demo.sh

test: deps fmt lint rules unit

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Alerting rules and dashboards are code: rule syntax, the unit tests of every alert, then both
# dashboards type-checked against Grafana's published schema and shepard's conventions (the
# packages come from `make deps`). The queries themselves run against a real Prometheus in
# tests/e2e_prometheus.rs.
rules:
	promtool check rules dashboards/alerts.yml
	cd dashboards && promtool test rules alerts.test.yml
	cd dashboards && npm run --silent check

# cargo-nextest runs each test in its own process, so Consul fixtures of different tests never
# share state; plain `cargo test` is the fallback where nextest is missing.
unit:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast && $(CARGO) test --workspace --doc; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
