"""Contrastive training of the embedder: the model wrapper (model), the InfoNCE loss (losses), the unpadded
packed forward (packed) and the Lightning loop with resume (train)."""
