#!/usr/bin/env bash
# Issue 19's GPU checks in one command that ends within ~9 minutes, for a session lent a GPU:
#
#   bash benchmarks/gpu_wheels.sh                  # here, once: the wheels the GPU image lacks, into .whl/
#   device run, carry [".whl"], timeout_s 590:  bash benchmarks/gpu_session.sh
#   bash benchmarks/gpu_session.sh --cpu-check     # here: the same stages at the tiny shape on the CPU
#
# Stages (each under its own timeout, so one that hangs leaves the others their time), Qwen2.5-0.5B
# shape, bfloat16, hf engine (vLLM and Ray are not on that image, and their wheels are over what a call
# can carry):
#   exactness   gpu_exactness.py: are the decoder's CPU-only lean norms and stacked matmuls bit for bit
#               exact on the GPU, and what do they save there; the CUDA-graph decode step against the
#               eager one (logits, argmax, ms a step): first, as the first run of the capture there
#   grpo        rlvr (PyTorch's cuDNN attention off: model.cudnn_attention's default) and TRL (on, PyTorch's
#               default), 4 steps each: docs/performance.md's table, against gpu_grpo_h200.json
#   grpo_graphs rlvr with each decode step replayed as a CUDA graph (rollout.cuda_graphs, off by default)
#   grpo_prefix rlvr's learner with the shared prompt pass and trimmed response passes (trainer.shared_prefix
#               true): the A/B of its default on a GPU (one pass a micro-batch)
#   grpo_cudnn  rlvr with cuDNN attention on: the A/B of that default
#   profile     gpu_profile.py: decode-step variants (fresh lengths with cuDNN off / on, CUDA graphs), the
#               update's log-softmax, torch.profiler tables of one update and one generation
#   syncs       gpu_grpo.py --sync-debug: host-device syncs of the decode loop, by source line
# Everything lands in $OUT (at most 8 files come back from a device run): session.log, grpo.json,
# grpo_graphs.json, grpo_prefix.json, exactness.json and prof/ (3 files); grpo_cudnn's table and the sync
# count are in session.log.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-/tmp/rlvr_gpu_session}
mkdir -p "$OUT"
LOG=$OUT/session.log

if [[ "${1:-}" == "--cpu-check" ]]; then
    DEVICE=(--device cpu --tiny)
    SHAPE=()
    SCALE=0.3
else
    DEVICE=()
    SHAPE=(--shapes qwen2.5-0.5b --engines hf)
    SCALE=1
fi

if [[ -z "${DEVICE[*]}" ]] && compgen -G ".whl/*.whl" >/dev/null; then  # the wheels are for the GPU image
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$ROOT/src
else
    export PYTHONPATH=$ROOT/src
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if ! python3 -c "import pydantic, trl" 2>/dev/null; then
    echo "pydantic or trl is not importable: run 'bash benchmarks/gpu_wheels.sh' here and carry .whl" >&2
    exit 2
fi

stage() {  # stage NAME SECONDS ARGS...: one script under a timeout, its output appended to the log
    local name=$1 limit
    limit=$(python3 -c "print(max(30, int($2 * $SCALE)))")
    shift 2
    echo "== $name ($(date -u +%H:%M:%S), limit ${limit} s): $*" | tee -a "$LOG"
    (cd "$ROOT/benchmarks" && timeout "$limit" python3 "$@") 2>&1 | tee -a "$LOG"
    echo "== $name: exit ${PIPESTATUS[0]}" | tee -a "$LOG"
}

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$LOG"

stage exactness 60 gpu_exactness.py "${DEVICE[@]:0:2}" --output "$OUT/exactness.json"
stage grpo 170 gpu_grpo.py "${SHAPE[@]}" "${DEVICE[@]}" --steps 4 --budget-s 120 --output "$OUT/grpo.json"
stage grpo_graphs 70 gpu_grpo.py "${SHAPE[@]}" "${DEVICE[@]}" --no-trl --steps 3 --cuda-graphs \
    --output "$OUT/grpo_graphs.json"
stage grpo_prefix 70 gpu_grpo.py "${SHAPE[@]}" "${DEVICE[@]}" --no-trl --steps 3 --shared-prefix on \
    --output "$OUT/grpo_prefix.json"
stage grpo_cudnn 70 gpu_grpo.py "${SHAPE[@]}" "${DEVICE[@]}" --no-trl --steps 3 --cudnn-sdp on
stage profile 90 gpu_profile.py "${DEVICE[@]}" --out-dir "$OUT/prof"
stage syncs 40 gpu_grpo.py "${SHAPE[@]}" "${DEVICE[@]}" --no-trl --steps 2 --sync-debug
date -u | tee -a "$LOG"
