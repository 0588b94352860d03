# casa_plugin: `make demo` and `make test` are all a fresh machine needs.
PYTHON311 ?= $(shell command -v python3.11 2>/dev/null || echo $(HOME)/.pyenv/versions/3.11.7/bin/python)
VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.casa_plugin-installed
WORKDIR   ?= work
PYTEST_ARGS ?=
# CASA version matrix (issue 4): venvs under $(COMPAT_DIR)/; `make test` also runs check36 and one old line.
COMPAT_DIR      ?= .compat
COMPAT_PY       ?= $(PYTHON311)
COMPAT_ARGS     ?=
COMPAT_OLD      ?= casa-6.2.0-py38
# The documented commands, the venv prompt and `make demo` (tools/demo.py, the delivery report's demo tests) are
# those of the venv `make` builds (CASA 6.7), not an old line's; so is the browser (Selenium, in the venv's test
# extras): what a browser shows of a written page does not depend on the CASA that wrote it. The SLURM cluster tests
# run once, on the venv's CASA: a job's CASA runs restore_pi and split_sci_tgt, tested on this line by the other
# tests; submitting and following jobs is plain Python, which check36 checks on 3.6.
COMPAT_OLD_ARGS ?= -- -m 'not mpi' --ignore=tests/test_readme_commands.py --ignore=tests/test_stateful.py \
                   --ignore=tests/test_cluster_submit.py \
                   --deselect tests/test_prompt.py::test_venv_prompt_as_the_readme_says_reads_the_users_startup_file \
                   --deselect tests/test_delivery_report.py::test_demo_report \
                   --deselect tests/test_delivery_report.py::test_browser_check_sees_a_broken_report_page \
                   --deselect tests/test_delivery_report.py::test_browser_check_sees_a_missing_image_a_console_error_and_an_external_request
COMPAT_IN_TEST  ?= check36 compat-old
COMPAT_SOURCES   = $(wildcard casa_plugin/*.py casa_plugin/*/*.py casa_plugin/testing/templates/* init.py recipes/*.py tests/*.py) \
                   setup.cfg pyproject.toml

.PHONY: setup demo test test-suite test-suite-rest test-stateful check36 clean-work compat compat-old clean-compat fuzz

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml tools/write_casasiteconfig.py
	test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[all]' wheel  # wheel: tests build the package offline
	$(PY) tools/write_casasiteconfig.py
	touch $(STAMP)

demo: setup
	$(PY) tools/demo.py --workdir $(WORKDIR)/demo

# Two streams side by side, each keeping about one of this machine's 2 cores busy (CASA start-ups, one split at a
# time): the main suite but its stateful test (~15 min), and the old CASA line (~10 min) followed by the stateful
# test (~5 min); make -j2 starts them in this order. With PYTEST_ARGS (a selection) the main suite is one pytest run.
ifeq ($(strip $(PYTEST_ARGS)),)
SUITE_PARTS := test-suite-rest $(COMPAT_IN_TEST) test-stateful
else
SUITE_PARTS := test-suite $(COMPAT_IN_TEST)
endif
test: setup
	$(MAKE) --no-print-directory -j2 $(SUITE_PARTS)

test-suite: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-suite-rest: setup
	$(PY) -m pytest --ignore=tests/test_stateful.py

test-stateful: setup
	$(PY) -m pytest tests/test_stateful.py

# The stateful test of tests/test_stateful.py for MINUTES, one seed after another from SEED (not part of `make test`,
# which runs one seed with a small budget); prints each failure's shortest sequence of calls.
MINUTES ?= 30
SEED    ?= 1
fuzz: setup
	$(PY) tools/fuzz.py --minutes $(MINUTES) --seed $(SEED)

clean-work:
	rm -rf $(WORKDIR)

# Benchmark of issue 12 (not part of `make test`; root drops the page cache): the tutorial's loop against the plugin
# serially and under mpirun -n 3 (parallel=None and True), plain and averaging, warm and cold, on alma12m and small-row
# projects, then the member-parallel restore bench if there is one. BENCH_ARGS='--reuse' reuses the built data,
# '--projects alma12m --total-gb 12 --runs 3' is a quicker variant, '--quick' checks the script (bench/README.md).
BENCH_ARGS ?=
RESTORE_BENCH_ARGS ?=
.PHONY: bench
bench: setup
	$(PY) bench/run_bench.py $(BENCH_ARGS)
	test ! -f bench/bench_restore.py || $(PY) bench/bench_restore.py $(RESTORE_BENCH_ARGS)

# The whole CASA matrix (not part of `make test`): every line, a table at the end. COMPAT_ARGS=--list etc.
compat:
	COMPAT_DIR=$(COMPAT_DIR) $(COMPAT_PY) tools/compat.py $(COMPAT_ARGS)

# One old CASA line (Cycle 8's 6.2), rerun only when the code or tests change.
compat-old: $(COMPAT_DIR)/$(COMPAT_OLD).passed

# Outside CI a missing Python 3.8 skips it with a message (and no stamp); under CI it fails.
$(COMPAT_DIR)/$(COMPAT_OLD).passed: $(COMPAT_SOURCES) tools/compat.py tools/write_casasiteconfig.py
	COMPAT_DIR=$(COMPAT_DIR) $(COMPAT_PY) tools/compat.py --only $(COMPAT_OLD) --stamp $@ $(COMPAT_OLD_ARGS)

# Python 3.6 (CASA 6.2): everything compiles, imports and the pure tests pass; rerun only on changes.
# Outside CI a missing Python 3.6 skips it with a message (and no stamp); under CI it fails.
check36: $(COMPAT_DIR)/py36.passed

$(COMPAT_DIR)/py36.passed: $(COMPAT_SOURCES) tools/check_py36.py
	COMPAT_DIR=$(COMPAT_DIR) $(COMPAT_PY) tools/check_py36.py --stamp $@

clean-compat:
	rm -rf $(COMPAT_DIR)
