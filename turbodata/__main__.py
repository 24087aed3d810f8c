import sys

from turbodata.cli import process_main

sys.exit(process_main())
