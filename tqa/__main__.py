"""``python -m tqa``: the ``tqa`` command line."""

from .cli import main

main()
