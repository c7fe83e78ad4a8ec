# The environment lives outside the clone, keyed by the hash of the pins alone, so a fresh clone
# reuses it when the pins are unchanged (whatever its files' times) and a new pin builds a new
# one beside it; tools/build-env builds it once under a lock and links it into place complete.
PYTHON ?= python3
# One intra-op thread: the kit's CPU models are small, and on a 2-core machine two processes
# (the app and its background run, pytest and a notebook kernel) each spinning two OpenMP threads
# stall each other (a quick notebook run went from 8 s to 106 s beside one busy process).
# Override with `make demo OMP_NUM_THREADS=2` on an idle machine.
export OMP_NUM_THREADS ?= 1
REQ_HASH := $(shell sha256sum requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-12)
VENV ?= $(HOME)/.cache/labkit/venv-$(REQ_HASH)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
# labkit is taken from this checkout, never installed into the shared venv: an install there
# would point at whichever clone built the venv (a deleted CI clone broke the notebooks' kernels).
# Child processes (notebook kernels, the app's background runs) inherit it.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: demo test test-fast lab app book solutions env clean-runs

# no prerequisites: the hash in VENV's name already says which pins it holds
$(STAMP):
	tools/build-env $(VENV) $(PYTHON)

env: $(STAMP)

## The kit's main job on the embedded default dataset: fine-tuning vs LwF vs EWC vs joint.
demo: $(STAMP)
	$(PY) -m labkit demo

## Every test, notebooks included (quick settings).
test: $(STAMP)
	LABKIT_QUICK=1 $(PY) -m pytest tests notebooks --nbmake --nbmake-timeout=300 -p no:cacheprovider

## The development loop: every test but the slow kinds (browser, notebooks, Ray; tests/conftest.py).
test-fast: $(STAMP)
	LABKIT_QUICK=1 $(PY) -m pytest tests -m "not browser and not notebooks and not ray" -p no:cacheprovider

## JupyterLab on the notebooks.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

## The Streamlit app on http://127.0.0.1:$(PORT) (make app PORT=8502 for another port):
## `streamlit run app.py` that first starts the fork server the app's runs are forked from, so the
## first Run does not wait for torch's imports (run by path: it starts before this process's own).
app: $(STAMP)
	$(PY) labkit/app/launcher.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false --client.toolbarMode viewer

## The course as a static site in build/book/ (open build/book/index.html; works offline): every
## notebook executed in default mode, its times in the index (tools/book.py --quick for a smoke build).
book: $(STAMP)
	$(PY) tools/book.py --out build/book

## The notebooks with the exercises' reference solutions filled in, for instructors, in build/solutions/.
solutions: $(STAMP)
	$(PY) -m labkit.teaching.exercises.solved_notebooks build/solutions
