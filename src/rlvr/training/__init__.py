"""Training: the learner, the RL loop, SFT."""
