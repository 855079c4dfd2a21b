"""File I/O: atomic checkpoints and the rnnx .npz format (imports NumPy lazily)."""
