"""Every administrative task in Chromium: farms created, renamed and deleted with a typed
confirm; pending devices approved (the key shown once), rejected and forgotten; a sensor's
range edited; a CSV of chosen sensors downloaded; an actuator command confirmed first, and
not asked when the device's setting is off.

The bridge is a plain `farmbridge serve` with a LoRaWAN integration, so unregistered
devices can turn up as pending the way they do in the field.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, make_admin, unique
from tests.e2e.conftest import BROWSER_LOCALE, ingest, screenshot
from tests.integration.api_client import Api
from tests.integration.test_lorawan import sample as lorawan_sample

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

LORA_FARM: Final = "e2e-lora"
LORA_SECRET: Final = "e2e-admin-lorawan-secret"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    data_dir = tmp_path_factory.mktemp("e2e-admin")
    make_admin(data_dir)
    lora = [{"name": "lora-e2e", "kind": "tts", "farm": LORA_FARM, "secret": LORA_SECRET}]
    b = Bridge(
        data_dir,
        env={
            "FARMBRIDGE_LOGIN_RATE_PER_MIN": "60000",
            "FARMBRIDGE_LORAWAN_INTEGRATIONS": json.dumps(lora),
        },
    )
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def api(bridge: Bridge) -> Iterator[Api]:
    a = Api(bridge.url, *ADMIN)
    yield a
    a.close()


def signed_in(browser: Browser, bridge: Bridge) -> Page:
    """A tab of a fresh context (its own session) where the global admin has signed in."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=BROWSER_LOCALE)
    page = context.new_page()
    page.goto(bridge.url + "/login")
    page.fill("input[name=username]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.click("button[type=submit]")
    page.wait_for_selector("nav >> text=Farms")
    return page


@pytest.fixture
def tab(browser: Browser, bridge: Bridge) -> Iterator[Page]:
    """The global admin signed in, in a context of its own; console errors fail the test."""
    page = signed_in(browser, bridge)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    page.context.close()
    unexpected = [e for e in errors if "WebSocket" not in e]
    assert not unexpected, unexpected


def farm_with_pump(api: Api, sensors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A new farm with an actuator `pump-1` (sensors as given); its id, device and key."""
    farm = api.farm(unique("ui"))
    dev = api.device(farm["id"], "pump-1", sensors or [], kind="actuator")
    return {"farm": farm, "device": dev["device"], "sensors": dev["sensors"], "key": dev["key"]}


def test_farm_created_renamed_and_deleted_in_the_ui(
    tab: Page, api: Api, bridge: Bridge, browser: Browser
) -> None:
    """A farm created on the Farms page is in the overview at once; a rename shows there;
    the delete dialog says what is lost and enables Delete only once the name is typed;
    afterwards the farm is gone from the API and the overview, and another session's tab
    open on it says it is not found."""
    name = unique("made")
    tab.click("nav >> text=Farms")
    tab.fill("[data-testid=create-farm] input[name=name]", name)
    tab.fill("[data-testid=create-farm] input[name=title]", "Made in the UI")
    tab.click("[data-testid=create-farm] button[type=submit]")
    row = tab.locator(f"[data-testid=farm-row][data-farm='{name}']")
    row.wait_for()
    (farm,) = [f for f in api.ok("GET", "/api/v1/farms") if f["name"] == name]
    tab.click("nav >> text=Overview")
    tab.wait_for_selector("text=Made in the UI")

    tab.click("nav >> text=Farms")
    renamed = unique("renamed")
    row.locator("[data-testid=rename]").click()
    tab.fill("[data-testid=rename-farm] input[name=name]", renamed)
    tab.fill("[data-testid=rename-farm] input[name=title]", "Renamed in the UI")
    tab.click("[data-testid=rename-farm] button[type=submit]")
    tab.locator(f"[data-testid=farm-row][data-farm='{renamed}']").wait_for()
    assert api.ok("GET", f"/api/v1/farms/{farm['id']}")["name"] == renamed
    tab.click("nav >> text=Overview")
    tab.wait_for_selector("text=Renamed in the UI")

    watcher = signed_in(browser, bridge)
    watcher.goto(f"{bridge.url}/farms/{farm['id']}")
    watcher.wait_for_selector("[data-testid=farm-page]")

    tab.click("nav >> text=Farms")
    tab.locator(f"[data-testid=farm-row][data-farm='{renamed}'] [data-testid=delete]").click()
    dialog = tab.locator("[data-testid=confirm-dialog]")
    dialog.wait_for()
    assert "every reading, event and command" in dialog.inner_text()
    assert "cannot be undone" in dialog.inner_text()
    ok = dialog.locator("[data-testid=confirm-ok]")
    assert ok.is_disabled()
    dialog.locator("[data-testid=confirm-type]").fill(renamed[:-1])
    assert ok.is_disabled()
    dialog.locator("[data-testid=confirm-type]").fill(renamed)
    screenshot(tab, "admin-farm-delete", full_page=False)
    ok.click()
    tab.locator(f"[data-testid=farm-row][data-farm='{renamed}']").wait_for(state="detached")
    assert renamed not in [f["name"] for f in api.ok("GET", "/api/v1/farms")]
    watcher.wait_for_selector("[data-testid=farm-unavailable][data-reason=not_found]")
    tab.click("nav >> text=Overview")
    tab.wait_for_selector("text=Renamed in the UI", state="detached")
    watcher.context.close()


def test_farm_delete_cancelled_keeps_the_farm(tab: Page, api: Api) -> None:
    """Cancel in the delete dialog deletes nothing."""
    farm = api.farm(unique("kept"))
    tab.click("nav >> text=Farms")
    tab.locator(f"[data-testid=farm-row][data-farm='{farm['name']}'] [data-testid=delete]").click()
    tab.click("[data-testid=confirm-dialog] [data-testid=confirm-cancel]")
    tab.wait_for_selector("[data-testid=confirm-dialog]", state="detached")
    assert api.ok("GET", f"/api/v1/farms/{farm['id']}")["name"] == farm["name"]


def uplink(bridge: Bridge, device: str) -> None:
    body = lorawan_sample("tts_uplink.json")
    body["end_device_ids"]["device_id"] = device
    r = httpx.post(
        f"{bridge.url}/api/v1/lorawan/lora-e2e",
        json=body,
        headers={"Authorization": f"Bearer {LORA_SECRET}"},
        timeout=10,
    )
    assert r.json()["status"] == "unregistered", r.text


def test_pending_devices_approved_rejected_and_forgotten(
    tab: Page, api: Api, bridge: Bridge
) -> None:
    """Three unregistered LoRaWAN devices are listed; approving one shows its key once
    (working for ingest, gone after "I have saved it" and not shown again after a reload),
    rejecting one marks it rejected, forgetting one removes it."""
    if not [f for f in api.ok("GET", "/api/v1/farms") if f["name"] == LORA_FARM]:
        api.farm(LORA_FARM)
    (farm,) = [f for f in api.ok("GET", "/api/v1/farms") if f["name"] == LORA_FARM]
    names = [unique(p) for p in ("approve", "reject", "forget")]
    for name in names:
        uplink(bridge, name)
    tab.goto(f"{bridge.url}/admin/pending?farm={farm['id']}")
    rows = {n: tab.locator(f"[data-testid=pending-row][data-name='{n}']") for n in names}
    for row in rows.values():
        row.wait_for()

    rows[names[0]].locator("select").select_option("sensor_node")
    rows[names[0]].locator("[data-testid=approve]").click()
    box = tab.locator("[data-testid=device-key]")
    box.wait_for()
    assert "you won't see it again" in box.inner_text()
    key = tab.inner_text("[data-testid=device-key-value]").strip()
    assert key.startswith("fbd_")
    assert box.locator("[data-testid=copy-key]").is_visible()
    screenshot(tab, "admin-pending-key", full_page=False)
    rows[names[0]].wait_for(state="detached")
    devices = {d["name"]: d for d in api.ok("GET", f"/api/v1/farms/{farm['id']}/devices")}
    assert devices[names[0]]["kind"] == "sensor_node"
    event = {"events": [{"level": "info", "code": "hello", "message": "approved"}]}
    ingest(bridge.url, key, event)
    tab.click("[data-testid=key-saved]")
    box.wait_for(state="detached")
    tab.reload()
    rows[names[1]].wait_for()
    assert tab.locator("[data-testid=device-key]").count() == 0
    assert key not in tab.content()

    rows[names[1]].locator("[data-testid=reject]").click()
    tab.locator(
        f"[data-testid=pending-row][data-name='{names[1]}'][data-state=rejected]"
    ).wait_for()
    rows[names[2]].locator("[data-testid=forget]").click()
    rows[names[2]].wait_for(state="detached")
    pending = {
        p["name"]: p["state"] for p in api.ok("GET", f"/api/v1/farms/{farm['id']}/pending-devices")
    }
    assert pending.get(names[1]) == "rejected"
    assert names[2] not in pending
    assert names[0] not in pending


def test_sensor_range_and_device_profile_edited_in_the_ui(
    tab: Page, api: Api, bridge: Bridge
) -> None:
    """The device editor saves a sensor's unit and range (the API has it, and ingest
    follows it), refuses min not below max without saving, and saves the zone and the
    confirm setting of the profile."""
    made = farm_with_pump(api, [{"name": "temp", "unit": "C", "min": -40, "max": 80}])
    farm_id = made["farm"]["id"]
    tab.goto(f"{bridge.url}/admin/devices?farm={farm_id}")
    tab.click("[data-testid=edit-pump-1]")
    row = tab.locator("[data-testid=sensor-row][data-sensor=temp]")
    row.locator("input[name=unit]").fill("°C")
    row.locator("input[name=min]").fill("5")
    row.locator("input[name=max]").fill("35,5")
    row.locator("[data-testid=save-sensor]").click()
    row.locator("[data-testid=sensor-saved]").wait_for()
    (sensor,) = api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")
    assert (sensor["unit"], sensor["min"], sensor["max"]) == ("°C", 5, 35.5)
    r = httpx.post(
        f"{bridge.url}/api/v1/ingest",
        json={"readings": [{"sensor": "temp", "value": 36.0}]},
        headers={"Authorization": f"Bearer {made['key']}"},
    )
    assert r.status_code == 422, r.text

    row.locator("input[name=min]").fill("40")
    row.locator("[data-testid=save-sensor]").click()
    assert "below the maximum" in row.locator("[data-testid=sensor-error]").inner_text()
    assert api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")[0]["min"] == 5

    editor = tab.locator("[data-testid=device-profile]")
    editor.locator("input[name=zone]").fill("House 2")
    editor.locator("input[name=confirm_commands]").uncheck()
    editor.locator("button[type=submit]").click()
    tab.wait_for_selector("[data-testid=profile-saved]")
    device = api.ok("GET", f"/api/v1/devices/{made['device']['id']}")
    assert (device["zone"], device["confirm_commands"]) == ("House 2", False)
    screenshot(tab, "admin-device-editor")


def test_csv_export_downloads_the_chosen_sensors(tab: Page, api: Api, bridge: Bridge) -> None:
    """With one of two sensors unticked, the downloaded CSV (fetched with the token) holds
    exactly the ticked sensor's readings in the range."""
    made = farm_with_pump(api, [{"name": "temp", "unit": "C"}, {"name": "hum", "unit": "%"}])
    farm_id = made["farm"]["id"]
    temp_id, hum_id = (s["id"] for s in made["sensors"])
    now_ms = int(time.time() * 1000)
    readings = [
        {"sensor": "temp", "value": 20.5, "ts": now_ms - 3000},
        {"sensor": "hum", "value": 61.0, "ts": now_ms - 2000},
        {"sensor": "temp", "value": 21.0, "ts": now_ms - 1000},
    ]
    ingest(bridge.url, made["key"], {"readings": readings})
    tab.goto(f"{bridge.url}/farms/{farm_id}")
    tab.click("[data-testid=export-link]")
    tab.wait_for_selector("[data-testid=export-form]")
    tab.locator(f"[data-testid=export-sensor-{temp_id}]").wait_for()
    tab.locator(f"[data-testid=export-sensor-{hum_id}]").uncheck()
    with tab.expect_download() as info:
        tab.click("[data-testid=export-download]")
    download = info.value
    assert download.suggested_filename.startswith(f"{made['farm']['name']}-readings-")
    path = download.path()
    assert path is not None
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    assert [(r["device"], r["sensor"], float(r["value"])) for r in rows] == [
        ("pump-1", "temp", 20.5),
        ("pump-1", "temp", 21.0),
    ]
    tab.wait_for_selector("[data-testid=export-done]")


def commands_of(api: Api, device_id: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = api.ok("GET", f"/api/v1/devices/{device_id}/commands")
    return result


def test_actuator_command_confirmed_first_unless_switched_off(
    tab: Page, api: Api, bridge: Bridge
) -> None:
    """With confirm_commands on (a new device's default), "Switch pump-1 on?" is asked:
    Cancel sends nothing, Confirm sends the command. With it off, the command goes at once
    with no dialog."""
    made = farm_with_pump(api)
    farm_id, device_id = made["farm"]["id"], made["device"]["id"]
    tab.goto(f"{bridge.url}/farms/{farm_id}")
    button = tab.locator("[data-testid=cmd-on-pump-1]")
    button.click()
    dialog = tab.locator("[data-testid=confirm-dialog]")
    dialog.wait_for()
    assert dialog.locator("h2").inner_text() == "Switch pump-1 on?"
    screenshot(tab, "farm-confirm-command", full_page=False)
    dialog.locator("[data-testid=confirm-cancel]").click()
    dialog.wait_for(state="detached")
    assert commands_of(api, device_id) == []

    button.click()
    dialog.locator("[data-testid=confirm-ok]").click()
    tab.locator("[data-testid^=command-][data-state]").first.wait_for()
    assert [c["action"] for c in commands_of(api, device_id)] == ["on"]

    api.ok("PATCH", f"/api/v1/devices/{device_id}", json={"confirm_commands": False})
    tab.reload()
    tab.locator("[data-testid=cmd-off-pump-1]").click()
    tab.locator("[data-testid^=command-][data-state]").nth(1).wait_for()
    assert sorted(c["action"] for c in commands_of(api, device_id)) == ["off", "on"]
    assert tab.locator("[data-testid=confirm-dialog]").count() == 0
