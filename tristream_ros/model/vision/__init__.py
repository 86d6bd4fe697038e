"""Sparse Temporal Vision Encoding (STVE): MobileViT tiles, tile cache, importance, pooling."""
