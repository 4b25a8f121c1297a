# One-command entry points (see README.md).
#   make demo   set up .venv and separate the bundled example song
#   make test   set up .venv with the test extras and run the test suite
PYTHON ?= python3
VENV ?= .venv
NUMPY ?= numpy<2
EXTRAS ?= dev,eval,web,mpi,plot,synth
comma := ,
STAMP = $(VENV)/.installed-$(subst $(comma),_,$(EXTRAS))

.PHONY: install sysdeps demo test clean

$(STAMP): setup.py scripts/make-venv.sh
	scripts/make-venv.sh "$(PYTHON)" "$(VENV)" '$(NUMPY)' '$(EXTRAS)'
	touch "$@"

install: $(STAMP)

demo:
	$(MAKE) install EXTRAS=plot
	$(VENV)/bin/python -m unetvocalsep.separate examples/example.wav -o separated --overwrite

# Debian packages for the synthetic corpus, MPI and browser tests (root or sudo).
sysdeps:
	@if [ "$$(id -u)" = 0 ]; then bash scripts/install-system-deps.sh; \
	elif command -v sudo >/dev/null; then sudo bash scripts/install-system-deps.sh; \
	else echo "not root: Debian packages not installed; tests needing them are skipped"; fi

test: sysdeps install
	$(VENV)/bin/python -m pytest -q tests

clean:
	rm -rf $(VENV) separated result
