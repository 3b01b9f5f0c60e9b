"""The text of a notification e-mail: a plain subject and body, in English and Korean.

Korean is a first language of the product, so every message says everything in both,
English first; the alarm's own message (written by a rule or a device) is shown as is.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

PRODUCT_EN: Final = "Farm Bridge"
PRODUCT_KO: Final = "팜 브리지"
SEVERITY_KO: Final = {"warning": "경고", "critical": "심각"}
CHANGE_EN: Final = {
    "raised": "raised",
    "acknowledged": "acknowledged",
    "cleared": "cleared",
    "closed": "closed",
}
CHANGE_KO: Final = {
    "raised": "발생",
    "acknowledged": "확인됨",
    "cleared": "해제됨",
    "closed": "종료됨",
}
VERB_KO: Final = {
    "raised": "발생했습니다",
    "acknowledged": "확인되었습니다",
    "cleared": "해제되었습니다",
    "closed": "종료되었습니다",
}
STATE_KO: Final = {
    "active": "활성",
    "acknowledged": "확인됨",
    "cleared": "해제됨 (미확인)",
    "closed": "종료됨",
}
MAX_MESSAGE_CHARS: Final = 200


def render(topic: str, payload: dict[str, Any], farm_name: str) -> tuple[str, str]:
    """(subject, body) of the e-mail telling of `payload` (an outbox row's)."""
    if topic == "alarm":
        return _alarm(payload, farm_name)
    subject = f"[{PRODUCT_EN}] {topic}: {farm_name} / [{PRODUCT_KO}] 알림: {farm_name}"
    body = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True)
    return _one_line(subject), body + "\n"


def _alarm(alarm: dict[str, Any], farm_name: str) -> tuple[str, str]:
    farm = str(alarm.get("farm_name") or farm_name)
    severity = str(alarm.get("severity", "warning"))
    change = str(alarm.get("change", "raised"))
    state = str(alarm.get("state", ""))
    message = _one_line(str(alarm.get("message") or alarm.get("code") or ""))[:MAX_MESSAGE_CHARS]
    sev_ko = SEVERITY_KO.get(severity, severity)
    change_en = CHANGE_EN.get(change, change)
    change_ko = CHANGE_KO.get(change, change)
    subject = (
        f"[{PRODUCT_EN}] {severity.upper()} alarm {change_en} on {farm}: {message}"
        f" / [{PRODUCT_KO}] {farm} {sev_ko} 경보 {change_ko}: {message}"
    )
    facts_en = [
        ("Farm", farm),
        ("Severity", severity),
        ("Alarm", str(alarm.get("code", ""))),
        ("Message", message),
        ("State", state),
        ("Value", _value(alarm.get("value"))),
        ("Device", _value(alarm.get("device"))),
        ("Sensor", _value(alarm.get("sensor"))),
        ("Raised at", _when(alarm.get("raised_at"))),
        ("Cleared at", _when(alarm.get("cleared_at"))),
        ("Alarm id", _value(alarm.get("id"))),
    ]
    facts_ko = [
        ("농장", farm),
        ("심각도", sev_ko),
        ("경보", str(alarm.get("code", ""))),
        ("메시지", message),
        ("상태", STATE_KO.get(state, state)),
        ("값", _value(alarm.get("value"))),
        ("장치", _value(alarm.get("device"))),
        ("센서", _value(alarm.get("sensor"))),
        ("발생 시각", _when(alarm.get("raised_at"))),
        ("해제 시각", _when(alarm.get("cleared_at"))),
        ("경보 번호", _value(alarm.get("id"))),
    ]
    ack = alarm.get("ack")
    if isinstance(ack, dict):
        who = str(ack.get("user", ack.get("by", "")))
        comment = _one_line(str(ack.get("comment") or ""))
        facts_en.append(("Acknowledged by", f"{who} {_when(ack.get('at'))} {comment}".strip()))
        facts_ko.append(("확인한 사람", f"{who} {_when(ack.get('at'))} {comment}".strip()))
    body = "\n".join(
        [
            f"{severity.upper()} alarm {change_en} on farm {farm}.",
            "",
            *(f"{k}: {v}" for k, v in facts_en),
            "",
            "-----",
            "",
            f"{farm} 농장에서 {sev_ko} 경보가 {VERB_KO.get(change, change_ko)}.",
            "",
            *(f"{k}: {v}" for k, v in facts_ko),
            "",
        ]
    )
    return _one_line(subject), body


def _value(value: Any) -> str:
    return "-" if value is None else str(value)


def _when(ms: Any) -> str:
    if not isinstance(ms, int | float) or isinstance(ms, bool):
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one_line(text: str) -> str:
    """No line breaks in a subject or a fact: a header must stay one header."""
    return " ".join(text.split())
