"""The message identities the MQTT bridge derives for conventions without message ids."""

from __future__ import annotations

import json

from farmbridge.ingest.mqtt.identity import PAYLOAD_RULES, Identity, identify, record_key
from farmbridge.ingest.mqtt.link import Delivery

NOW_MS = 1_700_000_000_000
WINDOW_MS = 600_000


def delivery(
    topic: str,
    payload: bytes | dict[str, object] | list[object],
    *,
    mid: int = 7,
    dup: bool = False,
) -> Delivery:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Delivery(topic, raw, mid=mid, qos=1, dup=dup, retained=False, session=1)


def ident(convention: str, d: Delivery, topic: str | None = None, part: str = "") -> Identity:
    found = identify(
        convention,
        topic if topic is not None else d.topic,
        d,
        part=part,
        received_ms=NOW_MS,
        window_ms=WINDOW_MS,
    )
    assert found is not None
    return found


TB_TOPIC = "tb/key1/v1/devices/me/telemetry"
TB_REL = "key1/v1/devices/me/telemetry"


def test_thingsboard_ts_payload_is_identified_by_its_time_and_always_deduped() -> None:
    """A ThingsBoard `{ts, values}` payload gets an id from its ts that a redelivery (any
    packet id, DUP or not) shares, and that is deduped against every stored row."""
    body = {"ts": 1451649600512, "values": {"temp": 21.5}}
    first = ident("thingsboard", delivery(TB_TOPIC, body, mid=3), TB_REL)
    again = ident("thingsboard", delivery(TB_TOPIC, body, mid=9, dup=True), TB_REL)
    assert first == again
    assert first.message_id.startswith("t:1451649600512:")
    assert first.dedup_since_ms is None
    assert len(first.message_id) <= 64


def test_thingsboard_same_ts_other_values_are_two_messages() -> None:
    """Two messages of one ts with different values (a device splitting its telemetry)
    keep apart: the id digests the payload beside the ts."""
    a = ident("thingsboard", delivery(TB_TOPIC, {"ts": 5, "values": {"t": 1}}), TB_REL)
    b = ident("thingsboard", delivery(TB_TOPIC, {"ts": 5, "values": {"h": 2}}), TB_REL)
    assert a.message_id != b.message_id


def test_thingsboard_arrays_and_gateway_records_carry_their_times() -> None:
    """An array of `{ts, values}` and the gateway form's per-device arrays are
    identified by their times; a record without ts falls back to the packet rule."""
    arr = [{"ts": 1, "values": {"t": 1}}, {"ts": 2, "values": {"t": 2}}]
    assert ident("thingsboard", delivery(TB_TOPIC, arr), TB_REL).message_id.startswith("t:1,2:")
    gw = {"Dev A": [{"ts": 10, "values": {"t": 1}}], "Dev B": [{"ts": 11, "values": {"t": 2}}]}
    rel = "v1/gateway/telemetry"
    assert ident("thingsboard", delivery("tb/" + rel, gw), rel).message_id.startswith("t:10,11:")
    mixed = {"Dev A": [{"ts": 10, "values": {"t": 1}}], "Dev B": [{"t": 2}]}
    assert ident("thingsboard", delivery("tb/" + rel, mixed), rel).message_id.startswith("p:")


def test_thingsboard_plain_values_fall_back_to_the_packet_rule() -> None:
    """`{"temp": 21}` carries no time: the packet rule applies."""
    found = ident("thingsboard", delivery(TB_TOPIC, {"temp": 21}), TB_REL)
    assert found.message_id.startswith("p:")


def test_tasmota_time_identifies_sensor_and_state_with_their_topic() -> None:
    """Tasmota's Time in tele/<t>/SENSOR and STATE is the identity; SENSOR and STATE of
    one second, or two devices, never share one."""
    body = {"Time": "2019-11-03T19:34:28", "DS18B20": {"Temperature": 21.5}}
    sensor = ident("tasmota", delivery("tele/pump/SENSOR", body))
    assert sensor.message_id.startswith("t:2019-11-03T19:34:28:")
    assert sensor == ident("tasmota", delivery("tele/pump/SENSOR", body, mid=40, dup=True))
    state = ident("tasmota", delivery("tele/pump/STATE", body))
    other = ident("tasmota", delivery("tele/fan/SENSOR", body))
    assert len({sensor.message_id, state.message_id, other.message_id}) == 3


def test_tasmota_without_time_or_on_other_topics_falls_back() -> None:
    """No Time, a Time that is not text, or the LWT topic: the packet rule."""
    for topic, payload in (
        ("tele/pump/SENSOR", {"DS18B20": {"Temperature": 21.5}}),
        ("tele/pump/SENSOR", {"Time": 17}),
        ("tele/pump/LWT", b"Online"),
        ("tele/pump/SENSOR", b"{not json"),
    ):
        assert ident("tasmota", delivery(topic, payload)).message_id.startswith("p:")


def test_packet_rule_first_delivery_is_always_stored() -> None:
    """Without DUP, a delivery is a first delivery: its window starts after its own
    receive time, so no stored row (a real repeat of the same value) absorbs it."""
    found = ident("homie", delivery("homie/5/n/climate/temperature", b"21.5"))
    assert found.dedup_since_ms == NOW_MS + 1


def test_packet_rule_redelivery_matches_the_first_delivery_within_the_window() -> None:
    """The broker's redelivery (DUP, same packet id) gets the first delivery's id, and
    counts stored rows of the window as itself."""
    first = ident("esphome", delivery("esphome/n/sensor/t/state", b"21.5", mid=12))
    again = ident("esphome", delivery("esphome/n/sensor/t/state", b"21.5", mid=12, dup=True))
    assert first.message_id == again.message_id
    assert again.dedup_since_ms == NOW_MS - WINDOW_MS


def test_packet_rule_same_value_under_another_packet_id_is_another_message() -> None:
    """A device repeating a value is another packet id: another identity."""
    a = ident("hass", delivery("z2m/door", {"door": "OPEN"}, mid=1))
    b = ident("hass", delivery("z2m/door", {"door": "OPEN"}, mid=2, dup=True))
    assert a.message_id != b.message_id


def test_records_of_one_message_get_their_own_ids_by_what_they_hold() -> None:
    """Records of one message are told apart by their device and sensors, not by their
    position, so a convention mapping them in another order after a restart still gives
    each record its first identity."""
    d = delivery("z2m/gh", {"temperature": 21.5, "humidity": 60})
    temp = record_key("/gh/", ["temperature"], False)
    hum = record_key("/gh/", ["humidity"], False)
    assert ident("hass", d, part=temp).message_id != ident("hass", d, part=hum).message_id
    again = delivery("z2m/gh", {"temperature": 21.5, "humidity": 60}, dup=True)
    assert ident("hass", again, part=temp).message_id == ident("hass", d, part=temp).message_id
    assert record_key("d", ["b", "a"], True) == record_key("d", ["a", "b"], True)
    assert record_key("d", ["a"], True) != record_key("d", ["a"], False)


def test_qos0_without_device_time_has_no_identity() -> None:
    """QoS 0 is never redelivered: nothing to recognise."""
    d = Delivery("homie/5/n/x/y", b"1", mid=0, qos=0, dup=False, retained=False, session=1)
    assert identify("homie", d.topic, d, part="", received_ms=NOW_MS, window_ms=WINDOW_MS) is None


def test_long_gateway_time_lists_stay_within_the_store_limit() -> None:
    """A gateway message of many records is cut to 64 characters, its digest kept."""
    gw = {f"Dev {i}": [{"ts": 1700000000000 + i, "values": {"t": i}}] for i in range(30)}
    rel = "v1/gateway/telemetry"
    found = ident("thingsboard", delivery("tb/" + rel, gw), rel, part="Dev 29")
    assert len(found.message_id) <= 64
    other = ident("thingsboard", delivery("tb/" + rel, gw), rel, part="Dev 28")
    assert found.message_id != other.message_id


def test_payload_rules_are_keyed_by_convention_name() -> None:
    """Only ThingsBoard and Tasmota payloads carry a device time the bridge trusts."""
    assert set(PAYLOAD_RULES) == {"thingsboard", "tasmota"}
