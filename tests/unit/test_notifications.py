"""The pure parts of notifications: retry schedule, signature, validation, e-mail text."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from farmbridge.domain.errors import ValidationFailed
from farmbridge.domain.notifications import RetryPolicy, check_addresses, check_webhook_url
from farmbridge.egress.mail_text import render
from farmbridge.egress.signature import sign, verify
from farmbridge.logs import redact_text
from farmbridge.service.notifications import new_webhook_secret
from tests.hook_receiver import alarm_payload


def test_retry_delay_doubles_from_the_base_up_to_the_cap() -> None:
    """After the n-th failure the wait is base * 2^(n-1), never more than the cap."""
    policy = RetryPolicy(max_attempts=10, base_delay_s=10, max_delay_s=300)
    assert [policy.retry_delay_s(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


def test_retry_schedule_is_the_same_every_time() -> None:
    """No jitter: the same failure count at the same time always gives the same next time."""
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.5, max_delay_s=60)
    first = [policy.next_attempt_ms(n, 1_000) for n in range(1, 5)]
    assert first == [policy.next_attempt_ms(n, 1_000) for n in range(1, 5)]
    assert first == [2_500, 4_000, 7_000, 13_000]


def test_retry_gives_up_after_max_attempts() -> None:
    """The max_attempts-th failure has no next attempt: the delivery fails."""
    policy = RetryPolicy(max_attempts=3, base_delay_s=1, max_delay_s=10)
    assert policy.next_attempt_ms(2, 0) == 2_000
    assert policy.next_attempt_ms(3, 0) is None
    with pytest.raises(ValueError, match="first failed attempt"):
        policy.retry_delay_s(0)


def test_signature_is_the_hex_hmac_sha256_of_the_raw_body() -> None:
    """The header is `sha256=` and the HMAC-SHA256 (the published test vector)."""
    body = b"The quick brown fox jumps over the lazy dog"
    expected = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert sign("key", body) == "sha256=" + expected
    assert expected == hmac.new(b"key", body, hashlib.sha256).hexdigest()


def test_signature_fails_for_another_body_or_secret() -> None:
    """A changed byte or the wrong secret does not verify."""
    header = sign("s3cret", b'{"a":1}')
    assert verify("s3cret", b'{"a":1}', header)
    assert not verify("s3cret", b'{"a": 1}', header)
    assert not verify("other", b'{"a":1}', header)


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "https://10.0.0.2:8443/a?b=c", "HTTPS://Example.com"]
)
def test_webhook_url_accepts_http_and_https(url: str) -> None:
    """Absolute http(s) URLs with a host are kept as given."""
    assert check_webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("/relative/path", "http or https"),
        ("http:///nohost", "no host"),
        ("http://example.com:port/", "not a URL"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/\r\nX-Evil: 1", "spaces"),
        ("http://example.com/" + "a" * 2048, "at most"),
    ],
)
def test_webhook_url_refuses_anything_else_naming_the_field(url: str, why: str) -> None:
    """Other schemes, missing hosts and malformed URLs are ValidationFailed on `url`."""
    with pytest.raises(ValidationFailed, match=why) as err:
        check_webhook_url(url)
    assert err.value.field == "url"


def test_addresses_are_trimmed_and_checked() -> None:
    """Plain addresses pass (trimmed); the first bad one is named by its index."""
    assert check_addresses([" ann@farm.example ", "b.kim+alarms@x.example"]) == [
        "ann@farm.example",
        "b.kim+alarms@x.example",
    ]
    for bad in ["no-at-sign", "a@b", "a@@b.example", "a@b.example\nBcc: x@y.example", "a b@c.d"]:
        with pytest.raises(ValidationFailed) as err:
            check_addresses(["ok@farm.example", bad])
        assert err.value.field == "addresses[1]", bad


def test_addresses_are_bounded_in_number() -> None:
    """More than 50 recipients is refused as a whole."""
    with pytest.raises(ValidationFailed, match="at most 50") as err:
        check_addresses([f"u{i}@farm.example" for i in range(51)])
    assert err.value.field == "addresses"


def test_alarm_mail_says_everything_in_english_and_korean() -> None:
    """Subject and body name severity, farm, message and state in both languages."""
    subject, body = render("alarm", alarm_payload(3, "greenhouse-1"), "greenhouse-1")
    assert "\n" not in subject
    assert "CRITICAL alarm raised on greenhouse-1" in subject
    assert "심각 경보 발생" in subject
    assert "Temperature below 2 °C for 5 min" in subject
    for text in ["Severity: critical", "State: active", "Farm: greenhouse-1", "Value: 1.4"]:
        assert text in body
    for text in ["심각도: 심각", "상태: 활성", "농장: greenhouse-1", "경보가 발생했습니다"]:
        assert text in body
    assert "2025-12-01 14:40:00 UTC" in body


def test_alarm_mail_of_an_acknowledgement_names_who() -> None:
    """An acknowledged alarm's mail says who acknowledged it, and the change in Korean."""
    alarm = alarm_payload(3, "gh") | {
        "change": "acknowledged",
        "state": "acknowledged",
        "ack": {"by": 4, "user": "ann", "at": 1764600100000, "comment": "on it\r\nBcc: x"},
    }
    subject, body = render("alarm", alarm, "gh")
    assert "acknowledged" in subject
    assert "확인됨" in subject
    assert "Acknowledged by: ann 2025-12-01 14:41:40 UTC on it Bcc: x" in body
    assert "경보가 확인되었습니다" in body


def test_webhook_secrets_never_reach_a_log() -> None:
    """A webhook secret in any log line is redacted."""
    secret = new_webhook_secret()
    assert secret.startswith("fbw_")
    assert secret not in redact_text(f"posting with {secret} now")
