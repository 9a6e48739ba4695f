# flask-lb-lab: `make lab` brings the lab up, `make test` runs every test; `make help` lists the rest.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The release make bench-provision compares with: the last one whose playbook renders the same
# files on the lab (an older one rewrites the firewall and nginx.conf each round, never changed=0).
export BENCH_OLD ?= 50756d7
# The release make bench-suite compares with: the last one before the speed work of issue 28.
export BENCH_SUITE_OLD ?= ea4d303
# What users pass reaches commands as environment, never as shell text (scripts/with-args).
export ANSIBLE_ARGS LOAD_ARGS BENCH_ARGS SCREENSHOT_ARGS

PYTEST := pytest -v --durations=20
# The tools read the lab's ports from lab.yml through scripts/lab_config.py.
TOOL := env PYTHONPATH=$(CURDIR)/scripts python

.PHONY: help bootstrap images box lint test test-unit test-vm molecule lab provision deploy status load bench bench-provision bench-suite screenshot destroy

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

bootstrap: ## Host packages, a running Docker engine and the Python venv (.venv)
	@scripts/bootstrap

lab: ## Bring the whole lab up (PROVIDER=docker|virtualbox|libvirt, LAB_APP_HOSTS=N, LAB_BALANCERS=2)
	@scripts/lab up

provision: images ## Run playbook.yml again on the running lab, its image built first (ANSIBLE_ARGS="-e app_replicas=4")
	scripts/with-args ANSIBLE_ARGS ansible-playbook playbook.yml

deploy: bootstrap ## Roll APP_VERSION out to the running lab, one app host at a time; later runs keep it
	@scripts/deploy

status: bootstrap ## Which app hosts the balancer serves now, which replicas answer, and why a host is out
	scripts/with-args ANSIBLE_ARGS ansible-playbook status.yml

load: bootstrap ## A bounded load on the balancer (two: their virtual address) with a report (LOAD_ARGS="--duration 20")
	port=$$(python3 scripts/lab_config.py port-http); vip=$$(python3 scripts/lab_config.py virtual-address); \
	scripts/with-args LOAD_ARGS $(TOOL) tools/loadtest.py "http://$${vip:-127.0.0.1}:$$port/api/whoami"

bench: images ## The lab against the seed stack with wrk; writes bench/results/ (needs make lab)
	scripts/with-args BENCH_ARGS $(TOOL) tools/bench.py

bench-provision: images ## Playbook wall times, this tree against BENCH_OLD; writes bench/results/provision.md
	scripts/with-args BENCH_ARGS $(TOOL) tools/bench_provision.py --old "$$BENCH_OLD"

bench-suite: bootstrap ## make test from clean clones, BENCH_SUITE_OLD then HEAD; writes bench/results/suite.md (80 min)
	scripts/with-args BENCH_ARGS $(TOOL) tools/bench_suite.py --old "$$BENCH_SUITE_OLD"

screenshot: images ## Prometheus's graph of a rolling deploy under load, to docs/ (needs make lab)
	@. scripts/lib.sh && ensure_packages chromium
	scripts/with-args SCREENSHOT_ARGS $(TOOL) tools/metrics_screenshot.py

destroy: ## Remove every machine, network and volume of the lab
	@scripts/lab destroy

box: bootstrap ## The libvirt box, built here with debootstrap (make lab PROVIDER=libvirt does it too)
	@scripts/build-box

images: bootstrap ## Every image the lab uses, built locally when no registry answers
	@scripts/images

lint: bootstrap ## ruff, yamllint and ansible-lint (production profile)
	ruff check .
	ruff format --check .
	yamllint --strict .
	ansible-lint --profile production

test-unit: bootstrap ## The app's unit tests only (seconds, no Docker)
	$(PYTEST) tests/unit

test: images lint ## The whole test suite, in one pytest run (removes a running lab)
	$(PYTEST) -s tests/unit tests/image tests/roles tests/lab

test-vm: images ## Real VMs on libvirt from nothing: up, 60 requests, changed=0, destroy (opt-in, slow)
	PROVIDER=libvirt $(PYTEST) -s tests/vm

molecule: images ## Every Molecule scenario (molecule test --all)
	molecule test --all
