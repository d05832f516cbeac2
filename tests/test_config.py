"""Settings: file, environment and flags, and the messages for bad values."""

import pytest

from neuraltunes_live.config import Config, load_config
from neuraltunes_live.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}) == Config()


def test_precedence_flag_over_environment_over_file(tmp_path):
    path = write(tmp_path, "[prepare]\nseed = 1\nworkers = 3\ntest_fraction = 0.2\n")
    env = {"NEURALTUNES_PREPARE_SEED": "2", "NEURALTUNES_PREPARE_WORKERS": "4"}
    settings = load_config(path, env=env, overrides={"prepare.seed": 3, "prepare.workers": None}).prepare
    assert (settings.seed, settings.workers, settings.test_fraction) == (3, 4, 0.2)


def test_shipped_config_file_is_valid_and_matches_the_defaults():
    from pathlib import Path

    shipped = Path(__file__).parents[1] / "config.toml"
    assert load_config(shipped, env={}) == Config()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[prepare]\nseed = 'x'\n", r"config.toml: prepare.seed must be a whole number, got 'x'"),
        ("[prepare]\ntest_fraction = 1.5\n",
         r"prepare.test_fraction must be from 0 up to \(not including\) 1, got 1.5"),
        ("[prepare]\nseeed = 1\n", r"unknown key prepare.seeed; known: cache_dir, include_drums"),
        ("[prepar]\n", r"unknown section \[prepar\]; known: prepare, generate"),
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


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nothere.toml does not exist"):
        load_config(tmp_path / "nothere.toml", env={})
