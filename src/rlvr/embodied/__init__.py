"""Image-goal navigation: a MiniWorld environment, visual policies, vectorised PPO on the shared math.

A layer of its own (empty until the navigation issue lands): it uses ``rlvr.algorithms``' pure functions
and never an LLM engine (``lint-imports`` checks that it does not import ``rlvr.rollout``), and the math
never imports it.
"""
