"""One package per API document; each declares its routes as one ``SURFACE`` (its
``surface.py``). Surfaces never import each other: what two share lives in services."""
