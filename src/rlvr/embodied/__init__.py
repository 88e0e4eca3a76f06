"""Embodied RL: image-goal navigation in MiniWorld mazes (arXiv 2507.01667).

``env`` (the task), ``vec`` (vectorised envs, exact resume), ``policies`` (four perception modules,
GRU, heads), ``ppo`` (recurrent PPO on rlvr's shared ``gae`` / ``ppo_clip``), ``train`` (the loop,
``rlvr train recipes/imagenav/*.yaml``), ``evaluate`` (held-out SR / SPL, image strips), ``probe``
(relative-pose probe), ``supervised`` (the supervised control). Needs ``pip install 'rlvr[embodied]'``;
nothing here is imported by ``import rlvr``.
"""
