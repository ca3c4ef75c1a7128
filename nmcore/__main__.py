import sys

from nmcore.cli import main

sys.exit(main())
