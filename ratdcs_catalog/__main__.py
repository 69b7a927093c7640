"""`python -m ratdcs_catalog` is the `ratdcs` command."""

from .cli import main

if __name__ == "__main__":  # not in a spawned worker process, which imports this module again (sync/processes.py)
    main()
