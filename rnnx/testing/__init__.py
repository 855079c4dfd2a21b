"""rnnx's parity rows as a pytest suite, for an array library's own CI.

``python -m pytest --pyargs rnnx.testing --xp MODULE`` runs every parity row of ``rnnx
parity`` (cell variant x dtype x device) on the namespace ``MODULE`` names as one test each
(:mod:`rnnx.testing.pytest_plugin`, :mod:`rnnx.testing.test_parity`); ``--xp`` takes the specs
of ``rnnx parity --namespace`` (:func:`rnnx.testing.namespace.namespace_spec`).
"""
