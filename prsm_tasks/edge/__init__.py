"""The edge node: the HTTP Task API served from the PRSM_TASKS bucket (see app.py)."""
