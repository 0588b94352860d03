# casa_plugin: `make demo` and `make test` are all a fresh machine needs.
PYTHON311 ?= $(shell command -v python3.11 2>/dev/null || echo $(HOME)/.pyenv/versions/3.11.7/bin/python)
VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.casa_plugin-installed
WORKDIR   ?= work
PYTEST_ARGS ?=

.PHONY: setup demo test check36 clean-work

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml tools/write_casasiteconfig.py
	test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[all]'
	$(PY) tools/write_casasiteconfig.py
	touch $(STAMP)

demo: setup
	$(PY) tools/demo.py --workdir $(WORKDIR)/demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean-work:
	rm -rf $(WORKDIR)
