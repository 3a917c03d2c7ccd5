"""Run the command line: ``python -m talentsim``."""

from talentsim.cli import main

raise SystemExit(main())
