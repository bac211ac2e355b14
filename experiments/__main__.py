"""``python -m experiments sweep|resume|status|report`` (the same as ``carepath ...``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
