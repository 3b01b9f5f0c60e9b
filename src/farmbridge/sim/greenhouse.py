"""Greenhouse physics for the simulator: pure and deterministic given a seed and the time.

The model is a handful of first-order balances, not a crop model: each quantity relaxes
toward an equilibrium set by the weather outside and by how much air the actuators
exchange. That keeps it cheap (a simulated week at 60 s steps runs in milliseconds) while
the curves still move the way a grower expects:

- light follows the sun (0 at night) dimmed by slowly drifting cloud;
- temperature follows the outdoor day/night cycle plus solar gain, which the fan and the
  vent carry away;
- relative humidity falls as the air warms (the same vapour in warmer air) and drops
  when outside air is let in;
- CO2 is drawn down by the plants in daylight, rises at night and is pulled toward the
  outdoor ~420 ppm by ventilation;
- soil moisture dries along an exponential curve, faster in sun and heat, and jumps up
  while the pump runs.

Nothing here reads a clock or a global random source: every value is a function of the
seed, the time passed to `Greenhouse.step` and the commands applied, so tests and load
runs can reproduce a day exactly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

DAY_S: Final = 86_400.0
OUTDOOR_CO2_PPM: Final = 420.0
MAX_SUBSTEP_S: Final = 60.0
"""Longer steps are split, so a fast-forwarded demo integrates as smoothly as a slow one."""

SUNRISE_H: Final = 6.0
DAY_LENGTH_H: Final = 12.0
CLEAR_SKY_LUX: Final = 110_000.0
GLASS_TRANSMISSION: Final = 0.7
CLOUD_PERIOD_S: Final = 3 * 3600.0
WEATHER_PERIOD_S: Final = DAY_S

OUTDOOR_MEAN_C: Final = 17.0
OUTDOOR_DAILY_SWING_C: Final = 6.0
OUTDOOR_DAY_TO_DAY_C: Final = 4.0
SOLAR_GAIN_C: Final = 16.0
"""How far full sun lifts a closed greenhouse above the outdoor temperature."""
RETAINED_HEAT_C: Final = 2.0
THERMAL_TIME_CONSTANT_S: Final = 2700.0
AIR_EXCHANGE_TIME_S: Final = 3600.0
"""A closed greenhouse still leaks about one air volume an hour."""
FAN_EXCHANGE: Final = 1.5
VENT_EXCHANGE_AT_FULL: Final = 3.0
"""Extra air exchange, in multiples of the leak, from the fan and a fully open vent."""

TRANSPIRATION_KPA: Final = 1.1
PHOTOSYNTHESIS_PPM_PER_S: Final = 0.1
RESPIRATION_PPM_PER_S: Final = 0.025

SOIL_DRYING_BASE_PCT_PER_S: Final = 0.25 / 3600
SOIL_DRYING_SUN_PCT_PER_S: Final = 1.2 / 3600
SOIL_SATURATION_PCT: Final = 95.0
PUMP_RATE_PCT_PER_S: Final = 0.05
VENT_SPEED_PCT_PER_S: Final = 2.0
MAX_PUMP_RUN_S: Final = 3600.0

SENSORS: Final = frozenset(
    {"temperature", "humidity", "co2", "light", "soil_moisture", "vent_position"}
)
"""Quantities `Greenhouse.reading` measures; `vent_position` is the vent's actual opening."""
ACTUATORS: Final = frozenset({"pump", "fan", "vent"})

EventLevel = Literal["info", "warning", "alarm"]


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """Something a grower would want to know, raised once when it starts and once when it ends.

    `subject` names the sensor (`"temperature"`, `"soil_moisture"`, ...) or actuator
    (`"pump"`) it concerns, so the simulator can hand it to the device that owns it.
    """

    level: EventLevel
    code: str
    message: str
    subject: str
    time_s: float


def _unit_hash(seed: int, channel: str, index: int) -> float:
    """A repeatable pseudo-random number in [-1, 1) for (seed, channel, index)."""
    digest = hashlib.blake2b(f"{seed}:{channel}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


def smooth_noise(seed: int, channel: str, t_s: float, period_s: float) -> float:
    """Value noise in [-1, 1]: random knots every `period_s`, eased in between.

    Weather built from it drifts instead of jumping, and is the same whenever it is asked.
    """
    k = math.floor(t_s / period_s)
    frac = t_s / period_s - k
    ease = (1 - math.cos(math.pi * frac)) / 2
    a = _unit_hash(seed, channel, k)
    b = _unit_hash(seed, channel, k + 1)
    return a + (b - a) * ease


def saturation_vapour_kpa(temperature_c: float) -> float:
    """Saturation vapour pressure of water over a flat surface (Tetens)."""
    return 0.6108 * math.exp(17.27 * temperature_c / (temperature_c + 237.3))


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


@dataclass(frozen=True, slots=True)
class Outdoor:
    """The weather outside at one moment."""

    temperature_c: float
    humidity_pct: float
    sun: float
    """Height of the sun as 0 (night) to 1 (noon)."""
    irradiance: float
    """Sunlight reaching the ground after cloud, 0 to 1."""
    light_lux: float


class Weather:
    """Outdoor conditions as a pure function of time: a 12 h day, drifting cloud and warmth.

    Args:
        seed: picks the cloud and the warm and cool days.
        utc_offset_s: added to epoch seconds to get local solar time, so noon falls at
            the greenhouse's noon rather than at Greenwich's.
    """

    def __init__(self, *, seed: int = 0, utc_offset_s: float = 0.0) -> None:
        self._seed = seed
        self._utc_offset_s = utc_offset_s

    def hour_of_day(self, t_s: float) -> float:
        return ((t_s + self._utc_offset_s) % DAY_S) / 3600.0

    def at(self, t_s: float) -> Outdoor:
        hour = self.hour_of_day(t_s)
        day_hour = hour - SUNRISE_H
        sun = math.sin(math.pi * day_hour / DAY_LENGTH_H) if 0 < day_hour < DAY_LENGTH_H else 0.0
        cloud = _clamp(0.35 + 0.45 * smooth_noise(self._seed, "cloud", t_s, CLOUD_PERIOD_S), 0, 1)
        irradiance = sun * (1 - 0.75 * cloud)
        # Coolest just before dawn, warmest mid-afternoon.
        daily = math.cos(2 * math.pi * (hour - 15.0) / 24.0)
        mean = OUTDOOR_MEAN_C + OUTDOOR_DAY_TO_DAY_C * smooth_noise(
            self._seed, "warmth", t_s, WEATHER_PERIOD_S
        )
        temperature = mean + OUTDOOR_DAILY_SWING_C * daily - 2.0 * cloud * sun
        humidity = _clamp(85.0 - 25.0 * sun + 10.0 * cloud, 20.0, 100.0)
        return Outdoor(
            temperature_c=temperature,
            humidity_pct=humidity,
            sun=sun,
            irradiance=irradiance,
            light_lux=CLEAR_SKY_LUX * irradiance,
        )


@dataclass(slots=True)
class Threshold:
    """A condition with hysteresis: raised past `trigger`, cleared only back past `clear`.

    Without the gap a value hovering at the limit would raise and clear it every tick.
    """

    subject: str
    code: str
    level: EventLevel
    above: bool
    trigger: float
    clear: float
    text: str
    unit: str
    active: bool = False

    def check(self, value: float, time_s: float) -> ModelEvent | None:
        """Returns an event when the condition starts or ends at `value`, else None."""
        if not self.active:
            crossed = value > self.trigger if self.above else value < self.trigger
            if crossed:
                self.active = True
                return ModelEvent(
                    self.level,
                    self.code,
                    f"{self.text}: {value:.1f} {self.unit}",
                    self.subject,
                    time_s,
                )
            return None
        back = value < self.clear if self.above else value > self.clear
        if back:
            self.active = False
            return ModelEvent(
                "info",
                f"{self.code}_cleared",
                f"{self.text} no more: {value:.1f} {self.unit}",
                self.subject,
                time_s,
            )
        return None


def _default_thresholds() -> list[Threshold]:
    return [
        Threshold("temperature", "temp_high", "alarm", True, 35.0, 33.0, "Too hot", "°C"),
        Threshold("temperature", "temp_low", "warning", False, 5.0, 7.0, "Too cold", "°C"),
        Threshold("humidity", "humidity_high", "warning", True, 95.0, 88.0, "Very humid", "%"),
        Threshold("soil_moisture", "soil_dry", "warning", False, 20.0, 25.0, "Soil dry", "%"),
        Threshold(
            "soil_moisture", "soil_wet", "warning", True, 85.0, 75.0, "Soil waterlogged", "%"
        ),
    ]


_NOISE: Final[Mapping[str, float]] = {
    "temperature": 0.15,
    "humidity": 0.8,
    "co2": 8.0,
    "soil_moisture": 0.3,
    "vent_position": 0.0,
}
"""Measurement noise amplitude per sensor; light gets a relative 2 % instead."""

_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    "temperature": (-20.0, 60.0),
    "humidity": (0.0, 100.0),
    "co2": (0.0, 5000.0),
    "light": (0.0, 150_000.0),
    "soil_moisture": (0.0, 100.0),
    "vent_position": (0.0, 100.0),
}


def _power(params: Mapping[str, Any]) -> bool:
    value = params.get("power")
    if value in ("on", True):
        return True
    if value in ("off", False):
        return False
    raise ValueError(f"power must be 'on' or 'off', not {value!r}")


def _number(params: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = params.get(key)
    # bool is an int; a `true` position is a client bug, not 1 %.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, not {value!r}")
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"{key} must be between {low:g} and {high:g}, not {value:g}")
    return float(value)


def _only(params: Mapping[str, Any], *allowed: str) -> None:
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise ValueError(f"unknown parameter {extra[0]!r}")
    missing = [k for k in allowed if k not in params]
    if missing:
        raise ValueError(f"missing parameter {missing[0]!r}")


class Greenhouse:
    """One greenhouse: its air, its soil and its pump, fan and vent.

    Args:
        seed: picks the weather and the measurement noise; equal seeds give equal runs.
        start_s: simulated epoch seconds of the initial state, which starts near the
            equilibrium for that moment rather than at an arbitrary value.
        utc_offset_s: local solar time minus UTC, in seconds.
        soil_moisture_pct: soil moisture at the start.
        vent_position_pct: vent opening at the start; a slightly open vent keeps a sunny
            day below the alarm unless the weather is hot.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        start_s: float = 0.0,
        utc_offset_s: float = 0.0,
        soil_moisture_pct: float = 40.0,
        vent_position_pct: float = 20.0,
    ) -> None:
        self.seed = seed
        self.weather = Weather(seed=seed, utc_offset_s=utc_offset_s)
        self.time_s = start_s
        self.pump_on = False
        self.pump_off_at_s: float | None = None
        self.fan_on = False
        self.vent_target_pct = _clamp(vent_position_pct, 0, 100)
        self.vent_position_pct = self.vent_target_pct
        self.soil_moisture_pct = _clamp(soil_moisture_pct, 0, 100)
        outdoor = self.weather.at(start_s)
        self.temperature_c = self._equilibrium_temperature(outdoor)
        self.vapour_kpa = min(
            self._equilibrium_vapour(outdoor), saturation_vapour_kpa(self.temperature_c)
        )
        self.co2_ppm = OUTDOOR_CO2_PPM
        self.light_lux = GLASS_TRANSMISSION * outdoor.light_lux
        self._thresholds = _default_thresholds()

    # -- derived quantities -------------------------------------------------------------

    @property
    def exchange(self) -> float:
        """Air exchange from the actuators, in multiples of the closed greenhouse's leak."""
        fan = FAN_EXCHANGE if self.fan_on else 0.0
        return fan + VENT_EXCHANGE_AT_FULL * self.vent_position_pct / 100.0

    @property
    def humidity_pct(self) -> float:
        return _clamp(100.0 * self.vapour_kpa / saturation_vapour_kpa(self.temperature_c), 0, 100)

    def _equilibrium_temperature(self, outdoor: Outdoor) -> float:
        gain = RETAINED_HEAT_C + SOLAR_GAIN_C * outdoor.irradiance
        return outdoor.temperature_c + gain / (1.0 + self.exchange)

    def _equilibrium_vapour(self, outdoor: Outdoor) -> float:
        outside = outdoor.humidity_pct / 100.0 * saturation_vapour_kpa(outdoor.temperature_c)
        # Thirsty plants in dry soil close their stomata.
        soil = _clamp(self.soil_moisture_pct / 30.0, 0.2, 1.0)
        transpiration = TRANSPIRATION_KPA * (0.25 + 0.75 * outdoor.irradiance) * soil
        return outside + transpiration / (1.0 + self.exchange)

    # -- time ---------------------------------------------------------------------------

    def step(self, now_s: float, dt_s: float) -> list[ModelEvent]:
        """Advances the model by `dt_s` seconds, ending at simulated epoch second `now_s`.

        Long steps are integrated in pieces of at most MAX_SUBSTEP_S. Returns the events
        raised on the way, in order; a condition that persists is not raised again.
        Raises ValueError for a negative `dt_s`.
        """
        if dt_s < 0:
            raise ValueError(f"dt_s must not be negative, got {dt_s}")
        events: list[ModelEvent] = []
        n = max(1, math.ceil(dt_s / MAX_SUBSTEP_S))
        h = dt_s / n
        for i in range(n):
            t = now_s - dt_s + (i + 1) * h
            self._substep(t, h, events)
        self.time_s = now_s
        return events

    def advance_to(self, now_s: float) -> list[ModelEvent]:
        """Steps from the model's current time to `now_s`; nothing happens if that is past."""
        if now_s <= self.time_s:
            return []
        return self.step(now_s, now_s - self.time_s)

    def _substep(self, t: float, h: float, events: list[ModelEvent]) -> None:
        if self.pump_off_at_s is not None and t >= self.pump_off_at_s:
            # Whatever ran past the deadline in this piece is within a minute: ignore it.
            self.pump_on = False
            self.pump_off_at_s = None
            events.append(ModelEvent("info", "pump_run_done", "Irrigation finished", "pump", t))
        if self.vent_position_pct != self.vent_target_pct:
            move = VENT_SPEED_PCT_PER_S * h
            delta = self.vent_target_pct - self.vent_position_pct
            self.vent_position_pct += _clamp(delta, -move, move)

        outdoor = self.weather.at(t)
        air_rate = (1.0 + self.exchange) / AIR_EXCHANGE_TIME_S
        heat_rate = (1.0 + self.exchange) / THERMAL_TIME_CONSTANT_S
        # Relax exactly toward each equilibrium, so big steps cannot overshoot.
        relax_heat = 1.0 - math.exp(-heat_rate * h)
        relax_air = 1.0 - math.exp(-air_rate * h)
        self.temperature_c += (self._equilibrium_temperature(outdoor) - self.temperature_c) * (
            relax_heat
        )
        self.vapour_kpa += (self._equilibrium_vapour(outdoor) - self.vapour_kpa) * relax_air
        # Beyond saturation the excess condenses on the glass.
        self.vapour_kpa = min(self.vapour_kpa, saturation_vapour_kpa(self.temperature_c))

        # Photosynthesis slows as CO2 runs short, so the drawdown levels off.
        uptake = PHOTOSYNTHESIS_PPM_PER_S * outdoor.irradiance
        uptake *= max(0.0, self.co2_ppm - 100.0) / (self.co2_ppm + 200.0)
        co2_eq_shift = (RESPIRATION_PPM_PER_S - uptake) / air_rate
        self.co2_ppm += (OUTDOOR_CO2_PPM + co2_eq_shift - self.co2_ppm) * relax_air
        self.co2_ppm = _clamp(self.co2_ppm, 0.0, 5000.0)

        heat = max(0.2, self.temperature_c / 25.0)
        drying = SOIL_DRYING_BASE_PCT_PER_S + SOIL_DRYING_SUN_PCT_PER_S * outdoor.irradiance * heat
        # Wet soil loses water faster than dry soil, which gives the familiar drying curve.
        self.soil_moisture_pct *= math.exp(-drying * h / 40.0)
        if self.pump_on:
            gap = SOIL_SATURATION_PCT - self.soil_moisture_pct
            self.soil_moisture_pct += gap * (
                1.0 - math.exp(-PUMP_RATE_PCT_PER_S * h / SOIL_SATURATION_PCT)
            )
        self.soil_moisture_pct = _clamp(self.soil_moisture_pct, 0.0, 100.0)
        self.light_lux = GLASS_TRANSMISSION * outdoor.light_lux

        values = {
            "temperature": self.temperature_c,
            "humidity": self.humidity_pct,
            "soil_moisture": self.soil_moisture_pct,
        }
        for threshold in self._thresholds:
            event = threshold.check(values[threshold.subject], t)
            if event is not None:
                events.append(event)

    # -- sensors and actuators ----------------------------------------------------------

    def true_value(self, sensor: str) -> float:
        """The exact current value of a sensor's quantity. Raises ValueError if unknown."""
        match sensor:
            case "temperature":
                return self.temperature_c
            case "humidity":
                return self.humidity_pct
            case "co2":
                return self.co2_ppm
            case "light":
                return self.light_lux
            case "soil_moisture":
                return self.soil_moisture_pct
            case "vent_position":
                return self.vent_position_pct
        raise ValueError(f"unknown sensor {sensor!r}")

    def reading(self, sensor: str) -> float:
        """What a sensor measures now: the true value plus small repeatable noise, in range.

        Raises ValueError for a sensor not in SENSORS.
        """
        value = self.true_value(sensor)
        noise = _unit_hash(self.seed, sensor, round(self.time_s * 1000))
        if sensor == "light":
            value *= 1.0 + 0.02 * noise
        else:
            value += _NOISE[sensor] * noise
        low, high = _RANGES[sensor]
        return round(_clamp(value, low, high), 2)

    def actuator_state(self, device: str) -> dict[str, str | int | float | bool | None]:
        """The actuator part of a device status, e.g. `{"power": "on"}` or `{"position": 40}`.

        Raises ValueError for a device not in ACTUATORS.
        """
        match device:
            case "pump":
                return {"power": "on" if self.pump_on else "off"}
            case "fan":
                return {"power": "on" if self.fan_on else "off"}
            case "vent":
                return {"position": round(self.vent_target_pct)}
        raise ValueError(f"unknown actuator {device!r}")

    def apply(self, device: str, action: str, params: Mapping[str, Any]) -> str:
        """Carries out a command and returns a short detail for its acknowledgement.

        Actions: pump and fan take `on`, `off`, `toggle` and `set` with
        `{"power": "on"|"off"}`; the pump also takes `run` with `{"duration_s": 1..3600}`,
        after which it stops by itself. The vent takes `open`, `close` and `set` with
        `{"position": 0..100}`; it then moves there at VENT_SPEED_PCT_PER_S.

        Raises ValueError, with a message fit for the operator, for an unknown device or
        action, or for missing, unknown or out-of-range parameters; the state is then
        unchanged.
        """
        match device:
            case "pump" | "fan":
                on = self._switch(device, action, params)
                if device == "fan":
                    self.fan_on = on
                    return f"fan {'on' if on else 'off'}"
                self.pump_on = on
                if action == "run":
                    duration = _number(params, "duration_s", 1, MAX_PUMP_RUN_S)
                    self.pump_off_at_s = self.time_s + duration
                    return f"pump running for {duration:g} s"
                self.pump_off_at_s = None
                return f"pump {'on' if on else 'off'}"
            case "vent":
                if action in ("open", "close"):
                    _only(params)
                    target = 100.0 if action == "open" else 0.0
                elif action == "set":
                    _only(params, "position")
                    target = _number(params, "position", 0, 100)
                else:
                    raise ValueError(f"unknown action {action!r} for the vent")
                self.vent_target_pct = target
                return f"vent moving to {target:g} %"
        raise ValueError(f"unknown device {device!r}")

    def _switch(self, device: str, action: str, params: Mapping[str, Any]) -> bool:
        current = self.pump_on if device == "pump" else self.fan_on
        match action:
            case "on" | "off":
                _only(params)
                return action == "on"
            case "toggle":
                _only(params)
                return not current
            case "set":
                _only(params, "power")
                return _power(params)
            case "run" if device == "pump":
                _only(params, "duration_s")
                _number(params, "duration_s", 1, MAX_PUMP_RUN_S)
                return True
        raise ValueError(f"unknown action {action!r} for the {device}")
