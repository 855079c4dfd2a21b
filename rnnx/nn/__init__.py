"""The network: recurrent layers over the cells of :mod:`rnnx.cells`, and the model.

* :mod:`~rnnx.nn.params`: PyTorch's parameter names, shapes and initialisation.
* :mod:`~rnnx.nn.loop`: the generic time loop over any cell kernel, and its BPTT loop.
* :mod:`~rnnx.nn.stack`: layers x directions (input projections, dropout, checkpointed segments).
* :mod:`~rnnx.nn.layers`: :class:`~rnnx.nn.layers.Recurrent` (``RNN``, ``LSTM``, ``GRU``) and
  the factory :func:`~rnnx.nn.layers.layer`.
* :mod:`~rnnx.nn.head`: the linear read-out and its backward.
* :mod:`~rnnx.nn.model`: :class:`~rnnx.nn.model.Model`, layers + head, trained by its explicit gradient.

The layer above :mod:`rnnx.cells` and below :mod:`rnnx.training`: nothing here imports the
training engine, the data readers, file I/O, interop or the CLI (``tests/test_layout.py``).
"""

__all__: list[str] = []
