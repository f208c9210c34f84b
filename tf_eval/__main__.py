"""`python -m tf_eval` runs the command line."""

import sys

from tf_eval.cli import main

sys.exit(main())
