#!/usr/bin/env bash
# The RL arms of docs/reproductions.md "## Image-goal navigation", straight task (recipes/imagenav/*.yaml),
# one after another with the same budget (160k env steps), after the blind floor of that task.
# Usage: scripts/imagenav_straight_arms.sh OUT_DIR WEIGHTS_DIR [SEED] [ARM ...]
#   WEIGHTS_DIR: where `python -m rlvr.embodied.supervised ... --save-dir WEIGHTS_DIR` wrote ARCH_sSEED.pt
#   ARM: floor | channelcat | late_fusion | channelcat_supinit | late_fusion_supinit | s2d_channelcat | ...
#   (default: floor channelcat late_fusion channelcat_supinit late_fusion_supinit)
set -euo pipefail
out=$1; weights=$2; seed=${3:-0}; shift $(( $# < 3 ? $# : 3 ))
arms=("$@"); [ ${#arms[@]} -eq 0 ] && arms=(floor channelcat late_fusion channelcat_supinit late_fusion_supinit)
export PYGLET_HEADLESS=1 OMP_NUM_THREADS=1
mkdir -p "$out"
for arm in "${arms[@]}"; do
  case $arm in
    floor) python scripts/imagenav_floor.py recipes/imagenav/channelcat.yaml seed=$seed \
             --archs channelcat late_fusion --out "$out/floor_straight_s$seed.json" ;;
    *_supinit) arch=${arm%_supinit}
             rlvr train recipes/imagenav/$arm.yaml output_dir="$out" seed=$seed \
               policy.init_perception="$weights/${arch}_s0.pt" ;;
    *) rlvr train recipes/imagenav/$arm.yaml output_dir="$out" seed=$seed ;;
  esac
done
