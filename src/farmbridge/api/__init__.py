"""The REST API under /api/v1: thin routes that translate HTTP and call the service layer."""
