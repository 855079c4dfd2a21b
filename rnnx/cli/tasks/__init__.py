"""The tasks of ``rnnx train``: each its flags' meaning, data source and outputs, and nothing
of the others (a task module imports no other task's: tests/test_cli_layout.py).

- :mod:`~rnnx.cli.tasks.regression`: windows of a series or table (``--preset``, ``--csv``),
  and ``predict`` / ``forecast`` / ``save`` on such a run;
- :mod:`~rnnx.cli.tasks.classification` (with ``classification_resume`` and
  ``classification_predict``): labelled panels (``--npz``, ``--ts``, ``--uea``);
- :mod:`~rnnx.cli.tasks.text`: a character model (``--text``), which ``rnnx sample`` reads.

What they share is elsewhere: the flags and defaults (:mod:`rnnx.cli.table`), the run-folder
transaction (:mod:`rnnx.cli.run`), the lock (:mod:`rnnx.cli.runfolder`), the signals
(:mod:`rnnx.cli.signals`).  ``rnnx.cli.app``, ``panel_app``, ``panel_resume``,
``panel_predict`` and ``text_app`` are these modules' former names.
"""
