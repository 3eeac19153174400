# bpftime — build, test and demo entry points. Every target installs what it needs.
PYTHON ?= python3
PIP    ?= $(PYTHON) -m pip
BPFTIME ?= $(PYTHON) -m cli.main
APT_PACKAGES = clang llvm libbpf-dev bpftool gcc make

.PHONY: setup system-deps test demo bench clean

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

setup: system-deps
	$(PIP) install -q -e '.[test]'

test: setup
	$(PYTHON) -m pytest tests

# The main job on a bundled example: launch the demo host with a call counter in it.
demo: setup
	$(PYTHON) examples/build.py
	$(BPFTIME) load examples/build/counter.bpf.o -- examples/build/demo-pie-O2 count 100000 4

# Benchmarks print ratios against references measured in the same run (not timed tests).
bench: setup
	$(PYTHON) bench/jit_compute.py
	$(PYTHON) bench/verifier_speed.py
	$(PYTHON) bench/uprobe_overhead.py
	$(PYTHON) bench/attach_latency.py

clean:
	rm -rf build *.egg-info bpftime/_native*.so tests/programs/build tests/hosts/build examples/build bench/build specs/bpf/build
