"""pip install ships libgraft.so inside the package, offline; the wheel
serves every CPython 3 (py3-none-<platform>); the sdist builds alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from conftest import HERE, child_env

SRC = HERE.parent


def offline_env() -> dict:
    """A child environment that finds no PyPI and no checkout package."""
    env = child_env()
    env.pop("PYTHONPATH", None)
    env["PIP_NO_INDEX"] = "1"
    return env


def clean_source_tree() -> None:
    """Remove what setuptools leaves in the source folder."""
    shutil.rmtree(SRC / "build", ignore_errors=True)
    shutil.rmtree(SRC / "graft.egg-info", ignore_errors=True)


def build_wheel(source: Path, out: Path, env: dict) -> subprocess.CompletedProcess:
    """pip wheel of source (a folder or an sdist) into out, offline."""
    try:
        return subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
                               "-w", str(out), str(source)],
                              env=env, cwd=out, capture_output=True, text=True, timeout=600)
    finally:
        clean_source_tree()


def test_pip_install_ships_the_library(tmp_path):
    target = tmp_path / "site"
    env = offline_env()
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
                            "--no-deps", "--target", str(target), str(SRC)],
                           env=env, capture_output=True, text=True, timeout=300)
    finally:
        clean_source_tree()
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "graft" / "libgraft.so").is_file()
    assert (target / "graft" / "py.typed").is_file()
    # Imported from elsewhere, without GRAFT_LIBRARY: the packaged copy loads.
    env.pop("GRAFT_LIBRARY", None)
    env["PYTHONPATH"] = str(target)
    r = subprocess.run([sys.executable, "-c", "import graft; print(graft.library_path, graft.__version__)"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(target / "graft" / "libgraft.so")), r.stdout


def test_wheel_is_py3_none_and_installable_here(tmp_path):
    r = build_wheel(SRC, tmp_path, offline_env())
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = tmp_path.glob("*.whl")
    m = re.fullmatch(r"graft-[^-]+-py3-none-(manylinux_(\d+)_(\d+)_\w+|linux_\w+)\.whl", wheel.name)
    assert m, wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "graft/libgraft.so" in names and "graft/py.typed" in names
        assert any(n.endswith(".dist-info/LICENSE") for n in names), names
        lib = z.read("graft/libgraft.so")
    if m.group(2):
        # The manylinux tag names the newest glibc symbol version it needs.
        need = max((int(a), int(b)) for a, b in re.findall(rb"GLIBC_(\d+)\.(\d+)", lib))
        assert (int(m.group(2)), int(m.group(3))) == need
    # pip on this machine accepts the tag (one wheel for every CPython 3).
    try:
        from packaging.tags import sys_tags
    except ImportError:  # pip's own copy, always there with pip
        from pip._vendor.packaging.tags import sys_tags
    assert any(str(t) == f"py3-none-{m.group(1)}" for t in sys_tags()), m.group(1)


def test_sdist_builds_alone(tmp_path):
    if shutil.which("go") is None:
        raise AssertionError("go is not on PATH: the sdist test builds libgraft from source")
    env = offline_env()
    dist = tmp_path / "dist"
    try:
        r = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(dist)], cwd=SRC, env=env,
                           capture_output=True, text=True, timeout=120)
    finally:
        clean_source_tree()
    assert r.returncode == 0, r.stdout + r.stderr
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as t:
        names = t.getnames()
        assert t.getmember(f"{sdist.name[:-7]}/LICENSE").isfile()
    assert any(n.endswith("/_libsrc/capi/shims.c") for n in names)
    assert not any(n.endswith("_test.go") for n in names)

    # Built outside any checkout, with no GRAFT_LIBRARY: from the Go sources.
    env.pop("GRAFT_LIBRARY", None)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    r = build_wheel(sdist, wheels, env)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = wheels.glob("graft-*-py3-none-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([sys.executable, "-c", "import graft; print(graft.library_path, graft.__version__)"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(site / "graft" / "libgraft.so")), r.stdout

    # Without Go the build stops and says what it needs.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not (Path(p) / "go").exists())
    env["GO"] = "go"
    r = build_wheel(sdist, wheels, env)
    assert r.returncode != 0
    assert "needs Go 1.26 or newer" in r.stdout + r.stderr, r.stdout + r.stderr
