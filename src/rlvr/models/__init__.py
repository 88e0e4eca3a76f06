"""Policy models: loading Hugging Face causal LMs (hub id or local path) and building tiny local ones."""
