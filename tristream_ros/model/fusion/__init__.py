"""Fusion: the decoder LM with KV cache, per-route experts, the query router and the cascade."""
