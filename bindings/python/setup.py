"""Build hook: ship libgraft.so inside the package, tag the wheel py3-none.

``pip install --no-build-isolation ./bindings/python`` (or a wheel built from
the sdist) runs this. All metadata is in pyproject.toml.

Where libgraft.so comes from, in order:

1. ``GRAFT_LIBRARY``: the file named, shipped as is;
2. in an sdist: ``go build -buildmode=c-shared`` of the Go sources the sdist
   carries under ``_libsrc/`` (put there by the sdist command below), into
   the build folder. This needs Go 1.26+ and a C compiler; without them the
   build stops and says so;
3. in a graft checkout: ``build/libgraft.so``, built by ``make lib`` at the
   top of the checkout when missing.

The wheel holds no Python extension, only a ctypes package and a shared
library, so it serves every CPython 3: it is tagged ``py3-none-<platform>``.
The platform is ``manylinux_<X>_<Y>_<arch>`` where X.Y is the newest glibc
symbol version the library needs (libgraft.so links libc alone, which the
manylinux policies allow), else ``linux_<arch>`` (a libc other than glibc).
``GRAFT_WHEEL_PLATFORM`` overrides it.
"""

import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution
try:  # setuptools 70.1+ has its own; older ones use wheel's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:
        raise SystemExit(
            "graft: building the package needs the wheel package beside setuptools "
            "(pip install wheel; Debian: apt-get install python3-wheel), or pip without "
            "--no-build-isolation, which fetches both"
        ) from None

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
# Where an sdist carries the library's Go sources.
LIBSRC = HERE / "_libsrc"
# What of the checkout the library is built from (capi/'s packages and the
# module files); tests and test data are left out.
GO_TREE = ["go.mod", "go.sum", "include", "capi", "election", "transport", "internal"]
GO_SKIP = shutil.ignore_patterns("*_test.go", "testdata", "testhooks.go")


def library_source() -> Path:
    """The file to ship as graft/libgraft.so, building it if need be."""
    named = os.environ.get("GRAFT_LIBRARY")
    if named:
        if not Path(named).is_file():
            raise SystemExit(f"graft: GRAFT_LIBRARY={named} does not exist")
        return Path(named)
    if LIBSRC.is_dir():
        return go_build(LIBSRC, HERE / "build" / "libgraft")
    if (TOP / "Makefile").is_file() and (TOP / "capi").is_dir():
        built = TOP / "build" / "libgraft.so"
        if not built.is_file():
            subprocess.run(["make", "-C", str(TOP), "lib"], check=True)
        return built
    raise SystemExit(
        f"graft: no libgraft.so to ship: {HERE} is neither in a graft checkout nor an sdist "
        "with its Go sources; set GRAFT_LIBRARY to a built libgraft.so"
    )


def go_build(src: Path, out_dir: Path) -> Path:
    """Build libgraft.so from the Go sources in src as `make lib` does."""
    go = os.environ.get("GO", "go")
    if shutil.which(go) is None:
        raise SystemExit(
            f"graft: building libgraft.so from source needs Go 1.26 or newer (`{go}` is not on PATH: "
            "https://go.dev/dl/) and a C compiler; or install a wheel, or set GRAFT_LIBRARY "
            "to a built libgraft.so"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "libgraft.so"
    script = (src / "capi" / "libgraft.map").resolve()
    ldflags = f'-s -w "-extldflags=-Wl,-soname,libgraft.so.0 -Wl,--version-script={script}"'
    env = dict(os.environ, CGO_ENABLED="1", GOFLAGS="-mod=readonly")
    cmd = [go, "build", "-buildmode=c-shared", "-ldflags=" + ldflags, "-o", str(out), "./capi"]
    print("graft: " + " ".join(cmd))
    r = subprocess.run(cmd, cwd=src, env=env)
    if r.returncode != 0:
        raise SystemExit(f"graft: `go build` of libgraft.so failed (exit {r.returncode}); Go 1.26+ and a C compiler are needed")
    (out_dir / "libgraft.h").unlink(missing_ok=True)  # cgo's own header
    return out


def wheel_platform(lib: Path) -> str:
    """The wheel's platform tag for a package shipping lib (see the module doc)."""
    if os.environ.get("GRAFT_WHEEL_PLATFORM"):
        return os.environ["GRAFT_WHEEL_PLATFORM"]
    arch = sysconfig.get_platform().split("-", 1)[1].replace("-", "_").replace(".", "_")
    glibc = {tuple(map(int, m)) for m in re.findall(rb"GLIBC_(\d+)\.(\d+)", lib.read_bytes())}
    if not glibc:
        return f"linux_{arch}"
    major, minor = max(glibc)
    return f"manylinux_{major}_{minor}_{arch}"


class BuildPyWithLibrary(build_py):
    """build_py that also puts libgraft.so into the built package."""

    def run(self) -> None:
        super().run()
        dst = Path(self.build_lib) / "graft" / "libgraft.so"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library_source(), dst)
        os.chmod(dst, 0o755)


class WheelPy3(bdist_wheel):
    """One wheel for every CPython 3: py3-none-<platform> (ctypes, no ABI)."""

    def get_tag(self):
        lib = Path(self.bdist_dir) / "graft" / "libgraft.so"
        if not lib.is_file():  # the tag is asked for before and after the build
            lib = library_source()
        return "py3", "none", wheel_platform(lib)


class SdistWithGoSources(sdist):
    """An sdist that builds alone: the Go sources of libgraft go in _libsrc/,
    and LICENSE (a link to the checkout's) as a file."""

    def make_release_tree(self, base_dir, files) -> None:
        super().make_release_tree(base_dir, files)
        base = Path(base_dir)
        lic = base / "LICENSE"
        if lic.is_symlink() or lic.exists():
            lic.unlink()
        shutil.copyfile((HERE / "LICENSE").resolve(), lic)
        root = LIBSRC if LIBSRC.is_dir() else TOP
        if not (root / "capi").is_dir():
            raise SystemExit(f"graft: no Go sources of libgraft at {root}: build the sdist in a graft checkout")
        for name in GO_TREE:
            src, dst = root / name, base / "_libsrc" / name
            if src.is_dir():
                shutil.copytree(src, dst, ignore=GO_SKIP)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)


class BinaryDistribution(Distribution):
    """The package holds a native library: not a pure-Python wheel."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": WheelPy3, "sdist": SdistWithGoSources},
    distclass=BinaryDistribution,
)
