import sys

from .render.export import main

sys.exit(main())
