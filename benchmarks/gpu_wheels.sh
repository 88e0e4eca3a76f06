#!/usr/bin/env bash
# The wheels that benchmarks/gpu_session.sh needs and the GPU machines' image lacks (it has torch and
# transformers; rlvr's config needs pydantic, gpu_grpo.py's TRL arm trl and datasets), for its Python 3.12
# on x86-64, into .whl/ (git-ignored; about 6 MB; carried with the device tool's `carry: [".whl"]`).
#
#   bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl \
    pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2 \
    typing-extensions==4.16.0 trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
ls -la .whl
du -sh .whl
