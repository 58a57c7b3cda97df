import gc

from gradlab.cli import main

status = main()
# The command is done and the process ends: its objects go with it. Frozen, they are
# left out of the interpreter's last garbage collection, which walks torch's objects
# for about 0.3 s (docs/benchmarks.md, "Figures behind the code"). Files are closed and the
# standard streams are still flushed at exit.
gc.freeze()
raise SystemExit(status)
