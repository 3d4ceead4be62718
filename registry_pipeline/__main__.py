"""`python -m registry_pipeline` runs the `registry` command."""

import sys

from registry_pipeline.cli import main

sys.exit(main())
