#!/usr/bin/env bash
# The toy multi-turn recipe end to end, timed: SFT warm start, its held-out eval, GRPO training (the
# recipe as written), the trained policy's held-out eval. Wall times and eval metrics go to
# experiments/multiturn/ (times.txt, eval_*.json). Run from the repository root.
set -euo pipefail
OUT=experiments/multiturn
mkdir -p "$OUT"
stamp() { date +%s; }
t0=$(stamp)
rlvr --quiet sft recipes/tiny/multiturn.yaml trainer.run_name=multiturn-sft "$@"
t1=$(stamp)
rlvr --quiet eval recipes/tiny/multiturn.yaml --model runs/multiturn-sft/sft --output "$OUT/eval_sft.json"
t2=$(stamp)
rlvr --quiet train recipes/tiny/multiturn.yaml model.path=runs/multiturn-sft/sft model.tiny=null \
  trainer.run_name=multiturn-grpo "$@"
t3=$(stamp)
rlvr --quiet eval recipes/tiny/multiturn.yaml --model runs/multiturn-grpo/final --output "$OUT/eval_grpo.json"
t4=$(stamp)
{
  echo "sft_s $((t1 - t0))"
  echo "eval_sft_s $((t2 - t1))"
  echo "train_grpo_s $((t3 - t2))"
  echo "eval_grpo_s $((t4 - t3))"
  echo "load_average_at_end $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/times.txt"
