#!/usr/bin/env bash
# Wheels for running benchmarks/training_throughput.py on a GPU machine with no network whose Python (3.12) already
# holds torch, transformers, sentence-transformers, pytorch-lightning, accelerate, pyarrow, pandas and xxhash, but
# not hins' own requirements nor `datasets` (sentence-transformers' trainer needs it). Run here (PyPI reachable),
# then carry .whl and on the GPU machine:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
#   PYTHONUNBUFFERED=1 python3 benchmarks/training_throughput.py
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  hydra-core==1.3.2 omegaconf==2.3.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
# antlr4 (omegaconf's parser) ships as a source archive only: build its wheel here (pure Python).
python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
du -sh .whl
