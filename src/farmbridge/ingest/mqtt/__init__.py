"""The MQTT device bridge: a broker connection, topic conventions, commands and liveness."""
