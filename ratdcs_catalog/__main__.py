"""`python -m ratdcs_catalog` is the `ratdcs` command."""

from .cli import main

main()
