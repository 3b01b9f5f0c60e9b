"""Use cases: ingest a report, manage farms and devices, send commands, authorize users."""
