"""Simulated devices: tools that talk to the bridge only through its public edges (HTTP, MQTT).

Nothing of the bridge imports this package (an import contract says so); it knows of the
bridge only what a device could: its HTTP ingest API and its MQTT conventions.

- `greenhouse`: the physics, pure and deterministic given a seed and the time;
- `devices`: what the simulated devices measure and drive (the demo's five, load nodes);
- `clock`: simulated time on an injected `Clock`, and its way back to wall-clock stamps;
- `events`: which device reports a model event, and the events waiting for it;
- `http`: the demo greenhouse over the HTTP ingest API;
- `mqtt`: the demo greenhouse or a paced load over MQTT, in every convention
  (`python -m farmbridge.sim.mqtt --help`).
"""
