"""Forward + backward of rnnx against the anchors, interleaved in one run: the script form
of ``rnnx bench`` (same code, ``rnnx.cli.bench``).

    python bench/core.py [--cells lstm] [--sizes 1,25,1,100 64,100,32,128] [--repeat 7] [--json F] [--plot F]
"""

from __future__ import annotations

import sys

from rnnx.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
