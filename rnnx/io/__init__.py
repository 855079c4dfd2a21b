"""File I/O: atomic checkpoints and the rnnx .npz format (imports NumPy lazily)."""

__all__: list[str] = []  # the modules: atomic, checkpoint, files, inputs, jsonfile, schema
