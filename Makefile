# The two set-up commands of the README: `make demo` and `make test`. Both create .venv.
# `make test` runs the static checks (`make check`) before the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test check protos chromium fuse ffmpeg soak bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/postflow demo

# Browser tests drive Debian's Chromium; Playwright never downloads a browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The slow-storage tests and bench/filespace.py mount a FUSE passthrough (postflow/devtools/slowfs.py):
# Debian's fuse3 (fusermount3, libfuse3); the Python binding is in the dev extra.
fuse:
	@command -v fusermount3 >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq fuse3 >/dev/null; }

# The markers read a file's frame rate and start timecode with ffprobe (postflow/markers/probe.py);
# its tests make small media files with ffmpeg. Debian's ffmpeg package has both.
ffmpeg:
	@command -v ffprobe >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; }

# Static checks first (ruff, then mypy over product code; generated postflow/v1 excluded), then the suite.
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: check chromium fuse ffmpeg
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15

protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -I protos --python_out=. --grpc_python_out=. --pyi_out=. protos/postflow/v1/*.proto

soak: $(STAMP)
	$(PY) -m pytest -q tests/campaign --soak

# Each benchmark starts what it needs on loopback and prints a Markdown table (bench/README.md).
bench: $(STAMP) fuse
	$(PY) -m bench.range_server && $(PY) -m bench.filespace && $(PY) -m bench.scan && $(PY) -m bench.e2e \
	  && $(PY) -m bench.concurrent && $(PY) -m bench.logs_and_disk \
	  && $(PY) -m bench.pipelines

clean:
	rm -rf $(VENV) build *.egg-info
