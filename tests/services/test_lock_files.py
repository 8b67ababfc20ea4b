"""The lock files `make install` installs from pin every dependency pyproject.toml names, at a
version its range allows (README, Quick start: the app itself is installed without its
dependencies, so a package missing from the lock would be missing on the clinic's server)."""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    """Each package the lock file pins, and its version."""
    pinned = {}
    for line in (ROOT / lock).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pinned[canonicalize_name(Requirement(name).name)] = version.strip()
    return pinned


@pytest.mark.parametrize(
    ("lock", "wanted"),
    [
        ("requirements/app.txt", PROJECT["dependencies"]),
        (
            "requirements/test.txt",
            PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"],
        ),
    ],
)
def test_the_lock_files_pin_every_dependency_within_its_range(lock, wanted):
    pinned = pins(lock)
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} pins no {name}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name} {pinned[name]}, outside {requirement.specifier}: run `make lock`"
        )
