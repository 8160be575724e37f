"""`python -m cli ARGS`: the `ioc` command without its installed script (what `ioc run` starts its children with)."""

import sys

from cli.main import main

sys.exit(main())
