"""pip install ships libgraft.so inside the package, offline."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import HERE, child_env


def test_pip_install_ships_the_library(tmp_path):
    src = HERE.parent
    target = tmp_path / "site"
    env = child_env()
    env.pop("PYTHONPATH", None)
    env["PIP_NO_INDEX"] = "1"  # offline: nothing may be fetched
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
                            "--no-deps", "--target", str(target), str(src)],
                           env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(src / "build", ignore_errors=True)
        shutil.rmtree(src / "graft.egg-info", ignore_errors=True)
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
