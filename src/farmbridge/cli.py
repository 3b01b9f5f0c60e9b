"""The `farmbridge` command: serve, demo, and owner tasks on the local store."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from farmbridge import logs
from farmbridge.app import BridgeApp, build_services
from farmbridge.config import Settings
from farmbridge.domain import DeviceKind, Role
from farmbridge.domain.errors import DomainError
from farmbridge.server import make_server
from farmbridge.service.bundle import Services
from farmbridge.store.base import SensorSpec

T = TypeVar("T")

cli = typer.Typer(
    help="Farm Bridge: the Universal Bridge and its real-time Web Admin.", no_args_is_help=True
)
users_cli = typer.Typer(help="Manage users.", no_args_is_help=True)
farms_cli = typer.Typer(help="Manage farms.", no_args_is_help=True)
devices_cli = typer.Typer(help="Manage devices.", no_args_is_help=True)
cli.add_typer(users_cli, name="users")
cli.add_typer(farms_cli, name="farms")
cli.add_typer(devices_cli, name="devices")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="where the database lives [env FARMBRIDGE_DATA_DIR]"),
]
Host = Annotated[str | None, typer.Option(help="address to listen on [env FARMBRIDGE_HOST]")]
Port = Annotated[int | None, typer.Option(help="port to listen on [env FARMBRIDGE_PORT]")]
Mqtt = Annotated[
    str | None,
    typer.Option(
        "--mqtt",
        help="broker URL, mqtt://user:pass@host:port or mqtts://... [env FARMBRIDGE_MQTT_URL]",
    ),
]
Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="database URL, postgresql://user:pass@host/db or sqlite:///path "
        "[env FARMBRIDGE_DATABASE_URL; default: SQLite in the data dir]",
    ),
]
Backplane = Annotated[
    str | None,
    typer.Option(
        "--backplane",
        help="Redis URL of the backplane, redis://host:port [env FARMBRIDGE_BACKPLANE_URL]",
    ),
]


def settings_from(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _on_store(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Runs owner work directly on the store, without a server."""

    async def run() -> T:
        svc = build_services(settings)
        await svc.store.start()
        try:
            return await work(svc)
        finally:
            await svc.store.close()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def serve(
    host: Host = None,
    port: Port = None,
    data_dir: DataDir = None,
    mqtt: Mqtt = None,
    backplane: Backplane = None,
    database: Database = None,
) -> None:
    """Run the bridge: REST API, device ingest and the live stream on one port, and the
    MQTT device bridge when given a broker."""
    settings = settings_from(
        host=host,
        port=port,
        data_dir=data_dir,
        mqtt_url=mqtt,
        backplane_url=backplane,
        database_url=database,
    )
    logs.configure(settings.log_level, json=settings.log_json)
    server = make_server(BridgeApp(settings))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop
        server.run()


@cli.command()
def demo(
    host: Host = None,
    port: Port = None,
    data_dir: Annotated[Path, typer.Option("--data-dir")] = Path("data/demo"),
    time_scale: Annotated[float, typer.Option(help="simulated seconds per real second")] = 120.0,
    interval_s: Annotated[float, typer.Option(help="seconds between readings")] = 2.0,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            help="broker URL: the simulated devices publish there and the bridge reads them",
        ),
    ] = None,
    mqtt_convention: Annotated[
        str | None,
        typer.Option(
            "--mqtt-convention",
            help="the devices' MQTT convention: native (default), thingsboard, homie, "
            "tasmota, esphome, hass or zigbee2mqtt",
        ),
    ] = None,
) -> None:
    """Run the bridge with a seeded demo greenhouse fed by simulated devices, over HTTP, or
    over MQTT through a broker when given one."""
    from farmbridge.demo import demo_binding, run_demo

    if mqtt_convention is not None:
        if mqtt is None:
            raise typer.BadParameter("needs --mqtt", param_hint="--mqtt-convention")
        try:
            demo_binding(mqtt_convention)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--mqtt-convention") from None
    convention = (mqtt_convention or "native") if mqtt is not None else None
    settings = settings_from(host=host, port=port, data_dir=data_dir, mqtt_url=mqtt)
    logs.configure(settings.log_level, json=settings.log_json)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop
        asyncio.run(
            run_demo(
                settings,
                time_scale=time_scale,
                interval_s=interval_s,
                mqtt_convention=convention,
            )
        )


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


@users_cli.command("create")
def users_create(
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="a global administrator")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a user; the password is read from stdin, or prompted for on a terminal."""
    password = _read_password(confirm=True)
    user = _on_store(
        settings_from(data_dir=data_dir),
        lambda svc: svc.users.create_user_unchecked(username, password, is_admin=admin),
    )
    typer.echo(f"created user {user.username} (id {user.id}{', admin' if user.is_admin else ''})")


@users_cli.command("passwd")
def users_passwd(username: str, data_dir: DataDir = None) -> None:
    """Set a user's password; read from stdin, or prompted for on a terminal. Every token
    of the user ends: a running bridge refuses them at once, but sockets already open stay
    until they authenticate again (the API's password routes close them at once)."""
    password = _read_password(confirm=True)

    async def work(svc: Services) -> None:
        user = await svc.store.get_user_by_name(username)
        await svc.users.set_password_unchecked(user.id, password)

    _on_store(settings_from(data_dir=data_dir), work)
    typer.echo(f"password of {username} changed")


@users_cli.command("grant")
def users_grant(username: str, farm: str, role: Role, data_dir: DataDir = None) -> None:
    """Give a user a role (viewer, operator, admin) on a farm."""

    async def work(svc: Services) -> None:
        user = await svc.store.get_user_by_name(username)
        f = await svc.store.get_farm_by_name(farm)
        await svc.store.set_membership(user.id, f.id, role)

    _on_store(settings_from(data_dir=data_dir), work)
    typer.echo(f"{username} is {role.value} on {farm}")


@farms_cli.command("create")
def farms_create(
    name: str, title: Annotated[str, typer.Option()] = "", data_dir: DataDir = None
) -> None:
    """Create a farm."""
    f = _on_store(
        settings_from(data_dir=data_dir), lambda svc: svc.store.create_farm(name, title or name)
    )
    typer.echo(f"created farm {f.name} (id {f.id})")


def _parse_sensor(text: str) -> SensorSpec:
    parts = text.split(":")
    if not 1 <= len(parts) <= 4 or not parts[0]:
        raise typer.BadParameter(f"{text!r}: use NAME[:UNIT[:MIN[:MAX]]]")
    try:
        lo = float(parts[2]) if len(parts) > 2 and parts[2] else None
        hi = float(parts[3]) if len(parts) > 3 and parts[3] else None
    except ValueError:
        raise typer.BadParameter(f"{text!r}: MIN and MAX must be numbers") from None
    return SensorSpec(parts[0], parts[1] if len(parts) > 1 else "", lo, hi)


@devices_cli.command("create")
def devices_create(
    farm: str,
    name: str,
    kind: Annotated[DeviceKind, typer.Option()] = DeviceKind.SENSOR_NODE,
    sensor: Annotated[
        list[str] | None, typer.Option(help="NAME[:UNIT[:MIN[:MAX]]], repeatable")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a device and print its key (shown only this once)."""
    specs = [_parse_sensor(s) for s in sensor or []]

    async def work(svc: Services) -> str:
        f = await svc.store.get_farm_by_name(farm)
        _, key = await svc.farms.register_device(f.id, name, kind, name, specs)
        return key

    key = _on_store(settings_from(data_dir=data_dir), work)
    typer.echo(key)


def main() -> None:
    cli()


@cli.command()
def watch(
    farm: Annotated[str, typer.Option("--farm", help="the farm's name or id")],
    url: Annotated[str, typer.Option(help="the bridge's base URL")] = "http://127.0.0.1:8000",
    user: Annotated[str, typer.Option(help="the user to sign in as")] = "admin",
    topics: Annotated[
        str | None,
        typer.Option(help="comma-separated, of readings,device_status,events,commands [all]"),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="all (every change) or latest (readings may be collapsed)")
    ] = "all",
) -> None:
    """Print a farm's live stream, one line per message, until Ctrl-C.

    The password is read from FARMBRIDGE_PASSWORD, or prompted for.
    """
    import os

    import httpx

    from farmbridge.client import ClientError, StreamClient, describe, stream_url
    from farmbridge.protocol.const import Mode, Topic

    try:
        chosen = None if topics is None else [Topic(t.strip()) for t in topics.split(",")]
        stream_mode = Mode(mode)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    # The password is a secret of this command's caller, not a bridge setting: not in Settings.
    password = os.environ.get("FARMBRIDGE_PASSWORD") or str(
        typer.prompt("Password", hide_input=True)
    )

    async def run() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def login() -> str:
                form = {"username": user, "password": password}
                r = await http.post("/api/v1/auth/token", data=form)
                r.raise_for_status()
                return str(r.json()["access_token"])

            try:
                first = await login()
                r = await http.get("/api/v1/farms", headers={"Authorization": f"Bearer {first}"})
                r.raise_for_status()
            except httpx.HTTPStatusError as exc:
                typer.echo(f"error: {exc.response.status_code} {exc.response.text}", err=True)
                raise typer.Exit(1) from None
            except httpx.TransportError as exc:
                typer.echo(f"error: cannot reach {url}: {exc}", err=True)
                raise typer.Exit(1) from None
            farms = {str(f["id"]): f for f in r.json()} | {f["name"]: f for f in r.json()}
            if farm not in farms:
                names = ", ".join(sorted(f["name"] for f in r.json())) or "none"
                typer.echo(f"error: no farm {farm!r} for {user} (farms: {names})", err=True)
                raise typer.Exit(1)
            unused = [first]

            async def token() -> str:  # a fresh login whenever the stream asks again
                return unused.pop() if unused else await login()

            async with StreamClient(
                url=stream_url(url), token=token, topics=chosen, mode=stream_mode
            ) as client:
                client.subscribe(int(farms[farm]["id"]))
                try:
                    async for message in client.messages():
                        typer.echo(describe(message))
                except ClientError as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(1) from None

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop
        asyncio.run(run())
