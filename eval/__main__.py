"""`python -m eval ckpt=PATH [key=value ...]`: the probe suite on a checkpoint (see eval/cli.py)."""
import sys

from eval.cli import main

sys.exit(main())
