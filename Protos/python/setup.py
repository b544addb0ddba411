"""Builds the foshan.subsidy.v1 *_pb2 modules from the .proto files with protoc at build time.

The protos are found in ../foshan (this directory inside the repository's Protos/), or in
./protos/foshan (inside an sdist, which carries a copy). protoc is $PROTOC, else `protoc` on PATH
(Debian: protobuf-compiler), else grpcio-tools' bundled one if it is installed.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PROTO_DIR = Path("foshan") / "subsidy" / "v1"


def proto_root() -> Path:
    for root in (HERE.parent, HERE / "protos"):
        if (root / PROTO_DIR / "frame.proto").is_file():
            return root
    sys.exit("subsidy-client: the .proto files are not in ../foshan/subsidy/v1 nor protos/foshan/subsidy/v1")


def protoc_command():
    if os.environ.get("PROTOC"):
        return [os.environ["PROTOC"]]
    if shutil.which("protoc"):
        return ["protoc"]
    try:
        import grpc_tools  # noqa: F401

        return [sys.executable, "-m", "grpc_tools.protoc"]
    except ImportError:
        sys.exit("subsidy-client: protoc is needed to build the package (Debian: apt-get install protobuf-compiler, "
                 "or set PROTOC, or pip install grpcio-tools)")


class BuildPyWithProtos(build_py):
    def run(self):
        super().run()
        root = proto_root()
        out = Path(self.build_lib).resolve()
        protos = sorted(str(p.relative_to(root)) for p in (root / PROTO_DIR).glob("*.proto"))
        subprocess.run([*protoc_command(), f"--python_out={out}", "-I", str(root), *protos], cwd=root, check=True)
        print(f"subsidy-client: generated Python for {len(protos)} protos into {out}")


class SdistWithProtos(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = proto_root()
        target = Path(base_dir) / "protos" / PROTO_DIR
        target.mkdir(parents=True, exist_ok=True)
        for proto in (root / PROTO_DIR).glob("*.proto"):
            shutil.copy2(proto, target / proto.name)


setup(cmdclass={"build_py": BuildPyWithProtos, "sdist": SdistWithProtos})
