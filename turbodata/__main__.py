import sys

from turbodata.cli import main

sys.exit(main())
