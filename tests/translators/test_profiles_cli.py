"""Profiles are versioned, immutable data: schema-checked, hash-locked, golden-tested."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from translators.cli_profiles import check_profiles, diff_profiles, list_profiles
from translators.profile import PROFILE_DIR, parse_profile
from translators.types import ProfileError

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def test_shipped_profiles_pass_check_including_golden_pairs_and_hl7apy():
    code, text = check_profiles(GOLDEN)
    assert code == 0, text


def test_editing_a_released_version_fails_check(tmp_path):
    copy = tmp_path / "profiles"
    shutil.copytree(PROFILE_DIR, copy)
    target = copy / "hl7v2-generic@2.5.1-1.0.0.yaml"
    target.write_text(target.read_text().replace("authority: GATEWAY", "authority: OTHER"))
    code, text = check_profiles(GOLDEN, copy)
    assert code == 1 and "released version was edited" in text


def test_golden_drift_fails_check(tmp_path):
    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN, golden)
    expected = golden / "hl7v2-generic" / "2.5.1-1.0.0" / "patient-create.hl7"
    expected.write_bytes(expected.read_bytes().replace(b"O'Brien", b"OBrien"))
    code, text = check_profiles(golden)
    assert code == 1 and "renders differently" in text


@pytest.mark.parametrize("text, fragment", [
    ("id: x\nversion: 1.0.0\n", "backend_version"),
    ("id: x\nversion: 1.0.0\ndialect: fax\nbackend_version: '1'\nresources: {Patient: {interactions: [read]}}\n", "dialect"),
    ("id: x\nversion: 1.0.0\ndialect: rest\nbackend_version: '1'\nresources: {Patient: {interactions: [fly]}}\n", "resources.Patient.interactions[0]"),
    ("id: x\nversion: 1.0.0\ndialect: rest\nbackend_version: '1'\nresources: {Patient: {interactions: [read]}}\n", "must be named"),
    ("id: [unclosed", "not valid"),
])
def test_schema_errors_name_file_path_and_problem(text, fragment):
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "bad@9.9.9.yaml")
    assert "bad@9.9.9.yaml" in str(info.value) and fragment in str(info.value)


def test_list_and_diff():
    code, text = list_profiles()
    assert code == 0 and "hl7v2-generic@2.5.1-1.0.0" in text and "released" in text
    code, text = diff_profiles("local-store@1.0.0", "hl7v2-generic@2.5.1-1.0.0")
    assert code == 0 and "+dialect: hl7v2" in text
    assert diff_profiles("local-store@1.0.0", "nope@1")[0] == 2
