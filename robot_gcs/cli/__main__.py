"""``python -m robot_gcs.cli``: the ``robot-gcs`` command."""

import sys

from . import main

sys.exit(main())
