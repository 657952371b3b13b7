"""The PRSM Task API (seed 000): /enqueue, /status, /result, /cancel, /tasks, /bulk, /health."""
