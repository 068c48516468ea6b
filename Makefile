# redthread — everything a new machine needs, from two commands: `make run`, `make test`.
# Downloads (virtualenv, Kafka jars, PostgreSQL data) live in git-ignored .venv/ and .local/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

export REDTHREAD_HOME ?= $(CURDIR)/.local
VENV   := .venv
PY     := $(VENV)/bin/python
KAFKA  := deploy/kafka/kafka.sh
PG     := $(PY) deploy/postgres/postgres.py
ZIPKIN := $(PY) deploy/zipkin.py
PYTEST := $(PY) -m pytest

.PHONY: help install up down clean topics run test test-unit test-integration test-e2e test-faults docs schemas

help:
	@echo "make run               set up everything and run the platform with demo data (Ctrl-C stops)"
	@echo "make test              set up everything and run the whole suite (unit, integration, e2e)"
	@echo "make up / down / clean start / stop Kafka and PostgreSQL / also delete all local state"
	@echo "make test-unit | test-integration | test-e2e"
	@echo "make test-faults       kill -9, outages, freezes, hostile records on real processes; lost/duplicated per scenario"
	@echo "                       (its own secured Kafka and PostgreSQL; about 15 min, beside a 10-minute mail and webhook outage)"
	@echo "make docs              AsyncAPI documents of the four services into docs/asyncapi/"
	@echo "make schemas           regenerate contracts/schemas/ after a contract change"
	@echo "make bench-intake | bench-matching | bench-notification | eval-matching   benchmarks (ratios to a baseline)"
	@echo "make bench-postings    the search in words: sums over dicts vs numpy, interleaved A/B (no stack needed)"
	@echo "make fit-matching      refit the matcher's decision to propose, on the tuning set only"
	@echo "make eval-loop         simulated loop: do answers for half the needs improve the other half's proposals?"
	@echo "make bench-reporting   reporting's projection rate and catch-up after a backlog (BENCH_BACKLOG, default 1,000,000)"
	@echo "make bench-reporting-queries   the board's endpoints at 100,000 companies (p50/p95; BENCH_COMPANIES, BENCH_CALLS)"
	@echo "make replay            rebuild reporting's read models from offset 0 into schema reporting_replay (ARGS=--swap: stop reporting first)"

# The virtualenv is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "installing Python packages into $(VENV) …"
	@$(PY) -m pip install --quiet --editable ".[dev]"
	@touch $@

install: $(VENV)/.installed
	@$(KAFKA) install
	@$(ZIPKIN) install
	@deploy/prometheus/install-promtool.sh
	@deploy/debian-packages.sh

up: install
	@$(KAFKA) start
	@$(PG) start
	@$(ZIPKIN) start >/dev/null
	@$(MAKE) --no-print-directory topics

topics: $(VENV)/.installed
	@echo "topics (from contracts/topics.py):"
	@DATABASE_URL="$$($(PG) url)" $(PY) -m deploy.topics

down:
	@-test -x $(PY) && $(ZIPKIN) stop
	@-$(KAFKA) stop
	@-test -x $(PY) && $(PG) stop

clean: down
	@-test -x $(PY) && home="$$($(PG) home)" && rm -rf "$$home" && rmdir --ignore-fail-on-non-empty "$$(dirname "$$home")"
	rm -rf $(REDTHREAD_HOME) docs/asyncapi/*.tmp

# deploy.run stops the services, Kafka and PostgreSQL itself on Ctrl-C, so that a
# signal reaching make first cannot leave them behind.
run: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m deploy.run --stop-infrastructure

test: up
	@DATABASE_URL="$$($(PG) url)" $(PYTEST) tests/unit tests/integration tests/e2e

test-unit: $(VENV)/.installed
	@$(PYTEST) tests/unit

test-integration: up
	@DATABASE_URL="$$($(PG) url)" $(PYTEST) tests/integration

test-e2e: up
	@DATABASE_URL="$$($(PG) url)" $(PYTEST) tests/e2e

# The fault suite starts, kills and restarts a Kafka and a PostgreSQL of its own (ports
# 19092-19093, 29092-29097 and 15442; for the partition a network namespace with veth
# links on 10.231.77.0/30 and 10.231.78.0/30), from the same jars and wheel as `make up`.
test-faults: $(VENV)/.installed
	@$(KAFKA) install
	@$(PYTEST) -p no:cacheprovider tests/faults $(ARGS)

docs: $(VENV)/.installed
	@mkdir -p docs/asyncapi
	@for s in intake matching notification reporting; do \
	  $(VENV)/bin/faststream docs gen --factory services.asyncapi:$$s -o docs/asyncapi/$$s.json >/dev/null && echo "docs/asyncapi/$$s.json"; \
	done

schemas: $(VENV)/.installed
	@$(PY) -m contracts.schema_snapshots

.PHONY: bench-intake
bench-intake: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m tests.bench.bench_intake

.PHONY: bench-notification
bench-notification: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m tests.bench.bench_notification

.PHONY: eval-matching
eval-matching: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m tests.eval.eval_matching

# Do coaches' answers improve the next proposals? A simulated loop on the tuning sets;
# EVAL_LOOP_ARGS=--sweep chooses the teaching weights and the track record's prior; --reporting
# measures the reporting sets too (independent, alike).
.PHONY: eval-loop
eval-loop: $(VENV)/.installed
	@$(PY) -m tests.eval.simulate_loop $(EVAL_LOOP_ARGS)

# Refit the matcher's decision to propose on the tuning set (tests/data/matching only).
.PHONY: fit-matching
fit-matching: $(VENV)/.installed
	@$(PY) -m tests.eval.fit_decision

.PHONY: bench-matching
bench-matching: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m tests.bench.bench_matching

.PHONY: bench-postings
bench-postings: $(VENV)/.installed
	@$(PY) -m tests.bench.bench_postings

.PHONY: bench-reporting
bench-reporting: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m tests.bench.bench_reporting

# ARGS="--swap" (reporting stopped) makes the rebuilt schema `reporting`; ARGS="--into NAME" builds another.
.PHONY: replay
replay: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m services.reporting.replay $(ARGS)

.PHONY: bench-reporting-queries
bench-reporting-queries: up
	@DATABASE_URL="$$($(PG) url)" $(PY) -m tests.bench.bench_reporting_queries
