import sys

from rnnx.cli import main

sys.exit(main())
