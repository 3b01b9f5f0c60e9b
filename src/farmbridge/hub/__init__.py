"""Fan-out: per-farm channels, farm state served from memory, bounded per-connection queues.

Imports domain and protocol only; the service layer feeds it committed changes.
"""
