"""The WebSocket wire contract: message types, limits, close codes, encode/decode (no I/O).

docs/protocol.md describes it for people; web-admin/src/lib/ws/messages.ts mirrors it.
"""

from farmbridge.protocol.const import PROTOCOL_VERSION, CloseCode, ErrorCode, Topic

__all__ = ["PROTOCOL_VERSION", "CloseCode", "ErrorCode", "Topic"]
