# The two commands a reader needs, plus the helpers they call.
#   make book   build the HTML book (installs everything first)
#   make test   check formatting and lint (ruff), run the package tests and the chapters under nbval
#   make bench  time our LSTM against torch.nn.LSTM (benchmarks/README.md)
#   make browser-test   build the book, then read every page in headless Chromium (CI runs it too)
SHELL := /bin/bash
# Any Python 3.11 or newer: `make PYTHON=/path/to/python3.12 book` picks another.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test test-other-cpu test-no-compiler browser-test pdf mathjax bench env notebooks lock clean

# nbval on every chapter: only cells marked NBVAL_CHECK_OUTPUT must reproduce their committed output
NBVAL := -m pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg book -q -ra -p no:randomly

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or newer, or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); the book needs Python 3.11 or newer: run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

env: $(STAMP)

book: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W -n --keep-going --builder html; status=$$?; \
	$(BIN)/python scripts/execution_report.py _build/.jupyter_cache || true; \
	echo "book build took $$(( $$(date +%s) - start )) s"; \
	if [ $$status -ne 0 ]; then echo "book build FAILED (exit $$status)"; exit $$status; fi; \
	echo "The book is at $$(pwd)/_build/html/index.html"

# Code the reader sees and code the tests run, formatted and linted the same way (pyproject.toml).
LINTED := lstm_study tests scripts benchmarks book

test: $(STAMP)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python -m pytest tests -q -ra -m "not browser"
	$(BIN)/python $(NBVAL)

# The chapters under nbval as another processor would run them: PyTorch's portable vector kernels
# (ATEN_CPU_CAPABILITY=default) instead of this CPU's AVX2 or AVX-512 ones, which sum floats in
# another order, with a busy process competing for the cores (it ends with this recipe's shell, even
# when that is killed). CI runs it after `make test`.
test-other-cpu: $(STAMP)
	@$(BIN)/python -c 'import os; p = os.getppid(); exec("while os.getppid() == p: pass")' & \
	busy=$$!; trap 'kill $$busy 2>/dev/null' EXIT; trap 'exit 143' TERM; trap 'exit 130' INT; \
	echo "nbval with ATEN_CPU_CAPABILITY=default and a busy process (pid $$busy) alongside"; \
	ATEN_CPU_CAPABILITY=default $(BIN)/python $(NBVAL)

# The chapters under nbval as on a machine without a C++ compiler: the compiled loop cannot be built
# (CXX names a compiler that fails, and the extension cache is empty), so every layer runs the fused
# loop, which sums in another order. Run by hand before a release; CI does not run it.
test-no-compiler: $(STAMP)
	@cache=$$(mktemp -d); trap 'rm -rf "$$cache"' EXIT; \
	echo "nbval with no C++ compiler (CXX=/bin/false, extension cache $$cache)"; \
	CXX=/bin/false TORCH_EXTENSIONS_DIR="$$cache" $(BIN)/python $(NBVAL)

# A local MathJax for the browser test and the PDF, so that both typeset the formulas offline (the
# pages load MathJax from a CDN). LSTM_STUDY_MATHJAX, when set, names one and nothing is fetched;
# otherwise npm fetches MathJax once into MATHJAX_DIR (git-ignored), unpacked in a folder beside it
# and renamed into place, so an interrupted fetch leaves no half cache. Without npm, or when the
# fetch fails, it says so and the pages fall back on the CDN. The package's README.md is never
# unpacked: the repository root is Sphinx's source folder, which would read it as a page.
MATHJAX_VERSION := 3.2.2
MATHJAX_CACHE ?= .cache/mathjax
MATHJAX_DIR = $(MATHJAX_CACHE)/$(MATHJAX_VERSION)
MATHJAX_JS = $(MATHJAX_DIR)/es5/tex-mml-chtml.js
# Runs a command with LSTM_STUDY_MATHJAX as set, else the cache once fetched, else unset (the CDN).
WITH_MATHJAX = LSTM_STUDY_MATHJAX="$${LSTM_STUDY_MATHJAX:-$$(test -f $(MATHJAX_JS) && cd $(MATHJAX_DIR) && pwd)}"

mathjax:
	@if [ -n "$${LSTM_STUDY_MATHJAX:-}" ] || [ -f $(MATHJAX_JS) ]; then exit 0; fi; \
	if ! command -v npm >/dev/null; then \
	  echo "npm not found: the pages will load MathJax from its CDN (to work offline, install npm or set LSTM_STUDY_MATHJAX to an unpacked mathjax@$(MATHJAX_VERSION))"; \
	  exit 0; \
	fi; \
	mkdir -p $(MATHJAX_CACHE) && fetch=$$(mktemp -d $(MATHJAX_CACHE)/.fetch-XXXXXX) || exit 1; \
	trap 'rm -rf "$$fetch"' EXIT; trap 'exit 130' INT TERM HUP; \
	if ! (cd "$$fetch" && npm pack --loglevel=error --fetch-retries=1 mathjax@$(MATHJAX_VERSION) \
	      && tar -xzf mathjax-$(MATHJAX_VERSION).tgz --exclude='*.md') >/dev/null 2>"$$fetch/log" \
	    || [ ! -f "$$fetch/package/es5/tex-mml-chtml.js" ]; then \
	  echo "could not fetch MathJax with npm ($$(head -n 1 "$$fetch/log")): the pages will load it from its CDN"; \
	  exit 0; \
	fi; \
	[ -e $(MATHJAX_DIR) ] || mv "$$fetch/package" $(MATHJAX_DIR); \
	if [ -f $(MATHJAX_JS) ]; then echo "fetched MathJax $(MATHJAX_VERSION) with npm into $(MATHJAX_DIR)"; \
	else echo "$(MATHJAX_DIR) holds no es5/tex-mml-chtml.js: remove it and run make again"; fi

# Read the freshly built book in headless Chromium (Debian's chromium + chromium-driver): every page
# of the table of contents; screenshots in _build/screenshots/. Skips, saying why, without a browser;
# typesets the math with the local MathJax (above), else checks only that the TeX is in the pages.
browser-test: book mathjax
	$(WITH_MATHJAX) $(BIN)/python -m pytest tests/browser -m browser -q -ra

# The whole book as one PDF, _build/pdf/book.pdf (title page, contents, page numbers), printed from
# the built pages by headless Chromium (see scripts/make_pdf.py; says how to install it when it is
# missing); also copied beside the site as _build/html/book.pdf, where the introduction links to it.
# Typesets with the local MathJax (above), else the CDN's; fails in one line when neither loads.
pdf: book mathjax
	$(WITH_MATHJAX) $(BIN)/python scripts/make_pdf.py
	cp _build/pdf/book.pdf _build/html/book.pdf

# Time one LSTM training step, ours against torch.nn.LSTM (CPU with 2 threads, then CUDA if there
# is a GPU); prints a table and writes benchmarks/results/<device>.json. See benchmarks/README.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_lstm.py

# Re-execute every chapter in place (after changing a chapter or the package).
notebooks: $(STAMP)
	for nb in book/*.ipynb; do $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

# Regenerate the lock from requirements.in in a throwaway environment.
lock:
	rm -rf /tmp/lstm-study-lock && $(PYTHON) -m venv /tmp/lstm-study-lock
	/tmp/lstm-study-lock/bin/pip install --quiet -r requirements.in
	( echo "# Generated by 'make lock' from requirements.in: every package pinned. Do not edit by hand."; \
	  /tmp/lstm-study-lock/bin/pip freeze --all --exclude-editable | grep -v -E '^(lstm-study|pip|wheel)[= ]' | sed -E 's/^(torch==[0-9.]+)[+]cpu$$/\1/' ) > requirements.txt
	( echo "# Binder's environment (repo2docker reads binder/ only): the lock in ../requirements.txt, copied"; \
	  echo "# by 'make lock' (a test checks they agree), then this package, editable, from the repository root."; \
	  grep -v '^#' requirements.txt; echo "-e ." ) > binder/requirements.txt

clean:
	rm -rf _build .jupyter_cache
