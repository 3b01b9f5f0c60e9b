"""Device adapters: HTTP ingest, the simulator, and (later) MQTT."""
