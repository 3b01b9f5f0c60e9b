"""The /ws endpoint: admission (endpoint), a pure session per connection (session, handlers,
actions, errors) inside a thin asyncio shell (connection) and the one reach into uvicorn
(transport)."""
