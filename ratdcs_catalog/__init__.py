"""ratdcs: a catalog-first download manager for astronomical archive data.

Plan every intended file into an SQLite manifest, download what is pending in parallel with
verification, and ask the manifest what is done. The command line is ``ratdcs``; notebooks
can use the functions exported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
