# One-command entry points (see README.md).
#   make demo   set up .venv and separate the bundled example song
#   make test   set up .venv with the test extras and run the test suite
PYTHON ?= python3
VENV ?= .venv
NUMPY ?= numpy<2
EXTRAS ?= dev,eval,web,mpi,plot,synth
comma := ,
STAMP = $(VENV)/.installed-$(subst $(comma),_,$(EXTRAS))

.PHONY: install demo test clean

$(STAMP): setup.py scripts/make-venv.sh
	scripts/make-venv.sh "$(PYTHON)" "$(VENV)" '$(NUMPY)' '$(EXTRAS)'
	touch "$@"

install: $(STAMP)

demo:
	$(MAKE) install EXTRAS=plot
	$(VENV)/bin/python -m unetvocalsep.separate examples/example.wav -o separated --overwrite

test: install
	$(VENV)/bin/python -m pytest -q tests

clean:
	rm -rf $(VENV) separated result
