"""What every surface shares, below the HTTP edge and above the store: no aiohttp here."""
