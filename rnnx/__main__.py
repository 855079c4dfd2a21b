"""``python -m rnnx`` and the ``rnnx`` command (``rnnx.__main__:run``).

A Ctrl-C while the command line module is still being imported is reported as one line with
exit status 130, like one that arrives later (:func:`rnnx.cli.main`)."""

import os
import sys


def run() -> None:
    try:
        from rnnx.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("rnnx: interrupted\n")
        sys.stderr.flush()
        os._exit(130)
    sys.exit(main())


if __name__ == "__main__":
    run()
