"""Settings: ``config.toml`` read into frozen dataclasses, checked once at start.

Precedence, highest first: a command-line flag, an environment variable
``NEURALTUNES_<SECTION>_<KEY>`` (e.g. ``NEURALTUNES_PREPARE_SEED=7``), the
config file, the default here. The file is ``--config FILE``, else
``$NEURALTUNES_CONFIG``, else ``config.toml`` in the current folder if there is
one. A bad value is a ConfigError naming where it came from, the key, and what
is allowed.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError
from .sampling import SamplingSettings

ENV_PREFIX = "NEURALTUNES_"


def _setting(default: Any, check: Callable[[Any], bool] | None = None, allowed: str = "") -> Any:
    """A setting's default, with the test its value must pass and words for what passes."""
    return field(default=default, metadata={"check": check, "allowed": allowed})


@dataclass(frozen=True)
class PrepareSettings:
    seed: int = _setting(1234)
    validation_fraction: float = _setting(0.1, lambda v: 0 <= v < 1, "from 0 up to (not including) 1")
    test_fraction: float = _setting(0.1, lambda v: 0 <= v < 1, "from 0 up to (not including) 1")
    include_drums: bool = _setting(False)
    workers: int = _setting(0, lambda v: v >= 0, "0 (one per core) or more")
    cache_dir: str = _setting("")


STYLES = ("balanced", "creative", "structured")


@dataclass(frozen=True)
class StyleSettings:
    """How adventurous sampling is: one of the named styles."""

    temperature: float = _setting(1.0, lambda v: 0.05 <= v <= 5, "from 0.05 to 5")
    top_k: int = _setting(0, lambda v: v >= 0, "0 (no limit) or more")
    top_p: float = _setting(1.0, lambda v: 0 < v <= 1, "above 0, up to 1")
    key_mask: bool = _setting(False)
    max_repeats: int = _setting(4, lambda v: 0 <= v <= 16, "0 (off) to 16")
    keep_grid: bool = _setting(True)

    def sampling(self, temperature: float | None = None) -> SamplingSettings:
        """The sampling settings of this style, at another temperature if given."""
        return SamplingSettings(
            temperature=self.temperature if temperature is None else temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            max_repeats=self.max_repeats,
            keep_grid=self.keep_grid,
        )


@dataclass(frozen=True)
class GenerateSettings:
    model: str = _setting("")
    style: str = _setting("balanced", lambda v: v in STYLES, "one of " + ", ".join(STYLES))
    bars: int = _setting(8, lambda v: 1 <= v <= 256, "from 1 to 256")
    beats_per_bar: int = _setting(4, lambda v: 1 <= v <= 16, "from 1 to 16")
    key: str = _setting("")
    random_seed: int = _setting(-1, lambda v: v >= -1, "-1 (new each run) or 0 and up")


BACKENDS = ("auto", "alsa", "jack", "coremidi", "winmm")


def _one_of(*choices: str) -> dict[str, Any]:
    return {"check": lambda v: v in choices, "allowed": "one of " + ", ".join(choices)}


@dataclass(frozen=True)
class LiveConfig:
    """The daemon: ports, tempo, how it listens and answers."""

    model: str = _setting("")
    backend: str = _setting("auto", **_one_of(*BACKENDS))
    input: str = _setting("")
    output: str = _setting("")
    clock: str = _setting("internal", **_one_of("internal", "external"))
    tempo: float = _setting(120.0, lambda v: 20 <= v <= 300, "from 20 to 300 BPM")
    beats_per_bar: int = _setting(4, lambda v: 1 <= v <= 16, "from 1 to 16")
    mode: str = _setting("call", **_one_of("call", "continuous"))
    start: str = _setting("beat", **_one_of("beat", "bar", "immediate"))
    on_play: str = _setting("interrupt", **_one_of("interrupt", "overlap"))
    silence_beats: float = _setting(1.0, lambda v: 0.125 <= v <= 16, "from 0.125 to 16")
    max_phrase_beats: float = _setting(32.0, lambda v: 1 <= v <= 256, "from 1 to 256")
    min_notes: int = _setting(2, lambda v: 1 <= v <= 64, "from 1 to 64")
    bars: int = _setting(4, lambda v: 1 <= v <= 64, "from 1 to 64")
    style: str = _setting("balanced", **_one_of(*STYLES))
    temperature: float = _setting(1.0, lambda v: 0.05 <= v <= 5, "from 0.05 to 5")
    lookahead_beats: float = _setting(4.0, lambda v: 0.5 <= v <= 16, "from 0.5 to 16")
    input_channel: int = _setting(0, lambda v: 0 <= v <= 16, "0 (any) or 1 to 16")
    output_channel: int = _setting(1, lambda v: 1 <= v <= 16, "from 1 to 16")
    passthrough: bool = _setting(False)
    random_seed: int = _setting(-1, lambda v: v >= -1, "-1 (new each run) or 0 and up")


def _cc(default: int) -> Any:
    return _setting(default, lambda v: -1 <= v <= 127, "-1 (off) or a controller number 0 to 127")


@dataclass(frozen=True)
class ControlSettings:
    """Which knob (MIDI CC number) turns what, and over what range."""

    temperature: int = _cc(21)
    bars: int = _cc(22)
    style: int = _cc(23)
    mode: int = _cc(24)
    panic: int = _cc(25)
    channel: int = _setting(0, lambda v: 0 <= v <= 16, "0 (any) or 1 to 16")
    temperature_low: float = _setting(0.5, lambda v: 0.05 <= v <= 5, "from 0.05 to 5")
    temperature_high: float = _setting(2.0, lambda v: 0.05 <= v <= 5, "from 0.05 to 5")
    max_bars: int = _setting(16, lambda v: 1 <= v <= 64, "from 1 to 64")


@dataclass(frozen=True)
class Config:
    prepare: PrepareSettings = field(default_factory=PrepareSettings)
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    live: LiveConfig = field(default_factory=LiveConfig)
    controls: ControlSettings = field(default_factory=ControlSettings)
    style_balanced: StyleSettings = field(
        default_factory=lambda: StyleSettings(temperature=0.8, top_p=0.9, max_repeats=4)
    )
    style_creative: StyleSettings = field(
        default_factory=lambda: StyleSettings(temperature=1.25, top_p=1.0, max_repeats=3)
    )
    style_structured: StyleSettings = field(
        default_factory=lambda: StyleSettings(
            temperature=0.8, top_k=20, top_p=0.9, key_mask=True, max_repeats=4
        )
    )

    def style(self, name: str) -> StyleSettings:
        if name not in STYLES:
            raise ConfigError(f"unknown style {name!r}; styles: {', '.join(STYLES)}")
        return getattr(self, f"style_{name}")


def default_config_path(env: Mapping[str, str]) -> Path | None:
    if env.get(ENV_PREFIX + "CONFIG"):
        return Path(env[ENV_PREFIX + "CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


def load_config(
    path: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the Config; ``overrides`` maps ``"section.key"`` to flag values (None: not given)."""
    env = os.environ if env is None else env
    path = Path(path) if path is not None else default_config_path(env)
    layers: list[tuple[str, dict[str, dict[str, Any]]]] = []
    if path is not None:
        layers.append((str(path), _read_file(path)))
    layers.append(("environment", _from_env(env)))
    flags: dict[str, dict[str, Any]] = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            section, key = dotted.split(".", 1)
            flags.setdefault(section, {})[key] = value
    layers.append(("command line", flags))

    section_types = typing.get_type_hints(Config)
    for origin, layer in layers:
        unknown = sorted(set(layer) - set(section_types))
        if unknown:
            raise ConfigError(
                f"{origin}: unknown section [{unknown[0]}]; known: {', '.join(section_types)}"
            )
    defaults = Config()
    sections = {}
    for section in section_types:
        values = {}
        for origin, layer in layers:
            values.update({k: (origin, v) for k, v in layer.get(section, {}).items()})
        sections[section] = _build(getattr(defaults, section), section, values)
    config = Config(**sections)
    _check_together(config)
    return config


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from err
    for name, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name} must be a [section], not a value")
    return data


def _from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for section, cls in typing.get_type_hints(Config).items():
        for key in typing.get_type_hints(cls):
            name = f"{ENV_PREFIX}{section}_{key}".upper()
            if name in env:
                found.setdefault(section, {})[key] = _EnvText(name, env[name])
    return found


@dataclass(frozen=True)
class _EnvText:
    variable: str
    text: str


def _build(default: Any, section: str, values: dict[str, tuple[str, Any]]) -> Any:
    """The section's defaults with the given values put in, each checked."""
    cls = type(default)
    settings = {f.name: f for f in dataclasses.fields(cls)}
    kinds = typing.get_type_hints(cls)
    kwargs = {}
    for key, (origin, value) in values.items():
        if key not in settings:
            raise ConfigError(
                f"{origin}: unknown key {section}.{key}; known: {', '.join(sorted(settings))}"
            )
        setting = settings[key]
        kind = kinds[key]
        if isinstance(value, _EnvText):
            origin = value.variable
        converted = _convert(value, kind)
        where = f"{origin}: {section}.{key}"
        if converted is None:
            raise ConfigError(f"{where} must be {_kind_name(kind)}, got {_shown(value)}")
        check, allowed = setting.metadata.get("check"), setting.metadata.get("allowed")
        if check is not None and not check(converted):
            raise ConfigError(f"{where} must be {allowed}, got {converted!r}")
        kwargs[key] = converted
    return dataclasses.replace(default, **kwargs)


def _convert(value: Any, kind: type) -> Any:
    if isinstance(value, _EnvText):
        text = value.text.strip()
        if kind is bool:
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.lower())
        try:
            return kind(text)
        except ValueError:
            return None
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else None
    return value if isinstance(value, kind) else None


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[kind]


def _shown(value: Any) -> str:
    return repr(value.text) if isinstance(value, _EnvText) else repr(value)


def _check_together(config: Config) -> None:
    held_out = config.prepare.validation_fraction + config.prepare.test_fraction
    if held_out >= 1:
        raise ConfigError(
            "prepare.validation_fraction + prepare.test_fraction must be below 1 "
            f"(training needs pieces), got {held_out:g}"
        )
    controls = config.controls
    if controls.temperature_low >= controls.temperature_high:
        raise ConfigError(
            "controls.temperature_low must be below controls.temperature_high, got "
            f"{controls.temperature_low:g} and {controls.temperature_high:g}"
        )
    knobs = (controls.temperature, controls.bars, controls.style, controls.mode, controls.panic)
    numbers = [n for n in knobs if n >= 0]
    if len(numbers) != len(set(numbers)):
        raise ConfigError(f"[controls] gives one controller number to two knobs: {numbers}")
