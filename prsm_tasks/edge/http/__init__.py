"""The HTTP machinery every surface mounts on: app factory, auth, errors, OpenAPI, rate
limit, request bodies, SSE."""
