"""API keys: generation, hashing, storage and lookup."""
