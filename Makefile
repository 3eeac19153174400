# bpftime — build, test and demo entry points. Every target installs what it needs.
PYTHON ?= python3
PIP    ?= $(PYTHON) -m pip
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

demo: setup
	bpftime run examples/hello/hello.asm

bench: setup
	$(PYTHON) bench/run_all.py

clean:
	rm -rf build *.egg-info bpftime/_native*.so tests/programs/build
