"""Multi-turn text environments (search, persuasion, toys): ``reset`` / ``step``, one per trajectory.

A layer of its own: environments know the Sample schema and the rewards they hand out, never the trainer
or where they run (``lint-imports`` checks that ``rlvr.envs`` imports neither ``rlvr.training`` nor
``rlvr.distributed``). The environments themselves arrive with the multi-turn issue.
"""
