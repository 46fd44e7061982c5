import sys

from tests.conformance.recorder import main

sys.exit(main())
