"""Events and the compatibility routes (seed 002): SSE streams, /api/tasks/{id}/…"""
