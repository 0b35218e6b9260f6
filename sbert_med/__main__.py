import sys

from sbert_med.cli import main

sys.exit(main())
