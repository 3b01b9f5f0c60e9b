"""Simulated devices: tools that talk to the bridge only through its public edges (HTTP, MQTT)."""
