#!/usr/bin/env bash
# The RL arms of the first task (docs/reproductions.md "## Image-goal navigation", recipes/imagenav/near_goals/),
# run one after another with the same
# budget (the recipes' 80k env steps). Usage: scripts/imagenav_rl_arms.sh OUT_DIR CC_RUN [SEED]
#   CC_RUN: the ChannelCat-with-sliding run (rlvr train recipes/imagenav/near_goals/channelcat.yaml) whose perception
#   the transfer run starts from.
set -euo pipefail
out=$1; cc=$2; seed=${3:-0}
export PYGLET_HEADLESS=1 OMP_NUM_THREADS=1
mkdir -p "$out"
for arch in channelcat late_fusion; do
  python scripts/imagenav_untrained.py recipes/imagenav/near_goals/$arch.yaml seed=$seed --out "$out/untrained_${arch}_s$seed.json"
done
python scripts/imagenav_untrained.py recipes/imagenav/near_goals/channelcat_nosliding.yaml seed=$seed --out "$out/untrained_channelcat_nosliding_s$seed.json"
rlvr train recipes/imagenav/near_goals/late_fusion.yaml output_dir="$out" seed=$seed
rlvr train recipes/imagenav/near_goals/channelcat_nosliding.yaml output_dir="$out" seed=$seed
rlvr train recipes/imagenav/near_goals/transfer_nosliding.yaml output_dir="$out" seed=$seed ppo.init_from="$cc/checkpoints/latest.pt"
rlvr train recipes/imagenav/near_goals/s2d_channelcat.yaml output_dir="$out" seed=$seed
rlvr train recipes/imagenav/near_goals/cross_attention.yaml output_dir="$out" seed=$seed
