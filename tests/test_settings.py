"""Configuration: TOML + GATEWAY_* env, validated at start with messages naming the bad key."""
from __future__ import annotations

import pytest

from gateway.settings import ConfigError, load_settings


def test_defaults_use_sqlite_in_data_dir(tmp_path):
    settings = load_settings(environ={"GATEWAY_DATA_DIR": str(tmp_path)})
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'gateway.db'}"
    assert settings.auth == "on"
    assert [b.name for b in settings.backends] == ["local"]


def test_toml_then_env_override(tmp_path):
    config = tmp_path / "g.toml"
    config.write_text('max_page_size = 50\nauth = "off"\n[[backends]]\nname = "ehr"\n'
                      'dialect = "hl7v2"\nprofile = "hl7v2-generic@2.5.1-1.0.0"\n'
                      'resources = ["Patient"]\n')
    settings = load_settings(environ={"GATEWAY_CONFIG": str(config), "GATEWAY_MAX_PAGE_SIZE": "70"})
    assert settings.max_page_size == 70 and settings.auth == "off"
    assert settings.backends[1].name == "ehr" and settings.backends[1].resources == ("Patient",)


@pytest.mark.parametrize("environ, key", [
    ({"GATEWAY_MAX_PAGE_SIZE": "lots"}, "max_page_size"),
    ({"GATEWAY_MAX_PAGE_SIZE": "-1"}, "max_page_size"),
    ({"GATEWAY_AUTH": "maybe"}, "auth"),
    ({"GATEWAY_NOPE": "1"}, "GATEWAY_NOPE"),
    ({"GATEWAY_DEFAULT_BACKEND": "ghost"}, "default_backend"),
    ({"GATEWAY_CONFIG": "/does/not/exist.toml"}, "GATEWAY_CONFIG"),
])
def test_bad_values_name_the_key(environ, key):
    with pytest.raises(ConfigError, match=key):
        load_settings(environ=environ)


@pytest.mark.parametrize("toml, key", [
    ('[[backends]]\nname = "x"\ndialect = "fax"\nprofile = "p@1"\n', "backends[0].dialect"),
    ('[[backends]]\nname = "x"\ndialect = "rest"\nprofile = "nope"\n', "backends[0].profile"),
    ('[[backends]]\nname = "x"\ndialect = "rest"\nprofile = "p@1"\ncolour = "red"\n', "backends[0].colour"),
    ("max_body_bytes = [1]\n", "max_body_bytes"),
    ("this is not toml", "GATEWAY_CONFIG"),
])
def test_bad_toml_names_the_key(tmp_path, toml, key):
    config = tmp_path / "g.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"GATEWAY_CONFIG": str(config)})
    assert key in str(info.value)


@pytest.mark.parametrize("environ, key", [
    ({"GATEWAY_MATCH_REVIEW_THRESHOLD": "high"}, "match_review_threshold"),
    ({"GATEWAY_MATCH_REVIEW_THRESHOLD": "0"}, "match_review_threshold"),
    ({"GATEWAY_MATCH_CERTAIN_THRESHOLD": "1.5"}, "match_certain_threshold"),
    ({"GATEWAY_MATCH_PROBABLE_THRESHOLD": "0.5"}, "match_probable_threshold"),  # below review
    ({"GATEWAY_MATCH_CERTAIN_THRESHOLD": "0.8"}, "match_certain_threshold"),  # not above probable
    ({"GATEWAY_MATCH_DETECTION": "sometimes"}, "match_detection"),
    ({"GATEWAY_MATCH_MAX_CANDIDATES": "0"}, "match_max_candidates"),
])
def test_duplicate_match_settings_are_checked(environ, key):
    with pytest.raises(ConfigError, match=key):
        load_settings(environ=environ)
    assert load_settings(environ={"GATEWAY_MATCH_REVIEW_THRESHOLD": "0.6"}).match_review_threshold == 0.6
