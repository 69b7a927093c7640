"""One module per archive family: what to fetch (catalog answers -> planned rows).

``kepler`` (Kepler and K2), ``tess`` and ``ztf`` are the planners; ``mast``, ``tables`` and
``http`` are the clients they share; ``common`` holds the plan types and MAST light curves.
"""
