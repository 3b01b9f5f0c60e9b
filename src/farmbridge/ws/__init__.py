"""The /ws endpoint: a thin raw-ASGI layer over the hub and the stream service."""
