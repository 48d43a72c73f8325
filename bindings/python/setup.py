"""Build hook: ship libgraft.so inside the package.

``pip install --no-build-isolation ./bindings/python`` runs this. It copies the
checkout's ``build/libgraft.so`` into ``graft/`` (running ``make lib`` at the
top of the checkout first when it is missing; set ``GRAFT_LIBRARY`` to ship
another file), and marks the wheel as platform-specific since it holds
native code. All metadata is in pyproject.toml.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent


class BuildPyWithLibrary(build_py):
    """build_py that also puts libgraft.so into the built package."""

    def run(self) -> None:
        super().run()
        src = Path(os.environ["GRAFT_LIBRARY"]) if os.environ.get("GRAFT_LIBRARY") else TOP / "build" / "libgraft.so"
        if not src.is_file() and not os.environ.get("GRAFT_LIBRARY"):
            if not (TOP / "Makefile").is_file():
                raise SystemExit(f"graft: {src} is missing and {TOP} is not a graft checkout: set GRAFT_LIBRARY")
            subprocess.run(["make", "-C", str(TOP), "lib"], check=True)
        if not src.is_file():
            raise SystemExit(f"graft: cannot ship libgraft.so: {src} does not exist")
        dst = Path(self.build_lib) / "graft" / "libgraft.so"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o755)


class BinaryDistribution(Distribution):
    """The package holds a native library: not a pure-Python wheel."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)
