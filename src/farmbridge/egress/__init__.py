"""The outgoing edges of notifications: webhooks over HTTP (httpx), e-mail over SMTP."""
