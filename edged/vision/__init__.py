"""From pixels to embeddings and names: frame sources, image decoding, detection, alignment, the
embedder, the quality checks, the matcher, and the per-photo pipeline that joins them."""
