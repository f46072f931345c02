"""``python -m faceattrs``: the command line."""

import sys

from faceattrs.cli import main

sys.exit(main())
