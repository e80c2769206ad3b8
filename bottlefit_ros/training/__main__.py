"""``python -m bottlefit_ros.training``: see :mod:`bottlefit_ros.training.cli`."""

import sys

from .cli import main

sys.exit(main())
