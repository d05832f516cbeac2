"""Settings: file, environment and flags, and the messages for bad values."""

import dataclasses

import pytest

from neuraltunes_live.config import Config, Rule, load_config
from neuraltunes_live.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}) == Config()


def test_precedence_flag_over_environment_over_file(tmp_path):
    path = write(tmp_path, "[prepare]\nrandom_seed = 1\nworkers = 3\ntest_fraction = 0.2\n")
    env = {"NEURALTUNES_PREPARE_SEED": "2", "NEURALTUNES_PREPARE_WORKERS": "4"}
    settings = load_config(path, env=env, overrides={"prepare.random_seed": 3, "prepare.workers": None}).prepare
    assert (settings.random_seed, settings.workers, settings.test_fraction) == (3, 4, 0.2)


def test_shipped_config_file_is_valid_and_matches_the_defaults():
    from pathlib import Path

    shipped = Path(__file__).parents[1] / "config.toml"
    assert load_config(shipped, env={}) == Config()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[prepare]\nrandom_seed = 'x'\n", r"config.toml: prepare.random_seed must be a whole number, got 'x'"),
        (
            "[prepare]\ntest_fraction = 1.5\n",
            r"prepare.test_fraction must be from 0 up to \(not including\) 1, got 1.5",
        ),
        ("[prepare]\nseeed = 1\n", r"unknown key prepare.seeed; known: cache_dir, include_drums"),
        ("[prepar]\n", r"unknown section \[prepar\]; known: prepare, train, evaluate, generate"),
        ("[prepare\n", r"not valid TOML"),
        ("prepare = 1\n", r"prepare must be a \[section\]"),
        ("[prepare]\nvalidation_fraction = 0.5\ntest_fraction = 0.5\n", r"must be below 1"),
        ("[prepare]\ninclude_drums = 1\n", r"prepare.include_drums must be true or false, got 1"),
    ],
)
def test_bad_file_values_name_the_key_and_what_is_allowed(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_bad_environment_value_names_the_variable(tmp_path):
    message = "NEURALTUNES_PREPARE_WORKERS: prepare.workers must be a whole number, got 'many'"
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, ""), env={"NEURALTUNES_PREPARE_WORKERS": "many"})


def test_a_config_file_of_junk_bytes_is_one_clear_error(tmp_path):
    junk = tmp_path / "junk.toml"
    junk.write_bytes(b"junk\x00\xff")
    with pytest.raises(ConfigError, match=r"junk.toml: not valid TOML \(not UTF-8 text: byte 5\)"):
        load_config(junk, env={})


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nothere.toml does not exist"):
        load_config(tmp_path / "nothere.toml", env={})


def test_every_setting_says_what_it_does_and_its_default_is_allowed():
    from neuraltunes_live.config import settings

    found = settings()
    assert {(s.section, s.key) for s in found} == {
        (section, key) for section, values in dataclasses.asdict(Config()).items() for key in values
    }
    for each in found:
        assert each.help.endswith("."), each
        assert each.rule is None or each.rule.allows(each.default), each


@pytest.mark.parametrize(
    "rule, allowed, refused, words",
    [
        (Rule(0, 1, high_open=True), [0, 0.5], [1, -0.1], "from 0 up to (not including) 1"),
        (Rule(0, 1, low_open=True), [1, 0.5], [0, 1.5], "above 0, up to 1"),
        (Rule(choices=("a", "b")), ["a", "b"], ["c", ""], "one of a, b"),
        (Rule(-1, None, words="-1 or more"), [-1, 10**9], [-2], "-1 or more"),
    ],
)
def test_a_rule_allows_what_it_says(rule, allowed, refused, words):
    assert all(rule.allows(v) for v in allowed) and not any(rule.allows(v) for v in refused)
    assert rule.describe() == words


def test_environment_variables_are_named_from_the_definitions(tmp_path):
    config = load_config(write(tmp_path, ""), env={"NEURALTUNES_LIVE_START": "bar", "NEURALTUNES_CONTROLS_PANIC": "7"})
    assert (config.live.start, config.controls.panic) == ("bar", 7)
    with pytest.raises(ConfigError, match="NEURALTUNES_LIVE_START: live.start must be one of beat, bar, immediate"):
        load_config(write(tmp_path, ""), env={"NEURALTUNES_LIVE_START": "later"})


def test_learned_knobs_are_written_into_the_file_and_read_back(tmp_path):
    from neuraltunes_live.config import write_controls

    path = write(tmp_path, '[live]\ntempo = 90.0\ninput = "My \\"Keys\\""\n[controls]\nmax_bars = 8\n')
    write_controls(path, {"temperature": 74, "keep": 64})
    config = load_config(path, env={})
    assert (config.live.tempo, config.live.input) == (90.0, 'My "Keys"')
    assert (config.controls.temperature, config.controls.keep, config.controls.max_bars) == (74, 64, 8)
    fresh = tmp_path / "new.toml"
    write_controls(fresh, {"panic": 30})
    assert load_config(fresh, env={}).controls.panic == 30
