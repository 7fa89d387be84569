import sys

from .run.loop import main

sys.exit(main())
