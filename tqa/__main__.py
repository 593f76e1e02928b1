"""``python -m tqa``: the ``tqa`` command line (the same entry point as the ``tqa`` script:
Ctrl-C caught from the start, the allocator tuned for a one-shot process)."""

from ._entry import main

main()
