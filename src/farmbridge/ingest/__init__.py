"""Device adapters: HTTP ingest, the MQTT bridge, LoRaWAN integrations."""
