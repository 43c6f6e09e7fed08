"""Rewrite a wheel without parts E3D never imports (rdkit/Contrib, ase/test, ase/gui): the device tool
carries 64 MiB with the repository, and these are ~7.6 MB of it.  RECORD is filtered to match.

    python bench/gpu/slim_wheel.py WHEEL PREFIX [PREFIX ...]
"""

import os
import sys
import zipfile


def slim(path: str, prefixes) -> int:
    tmp = path + ".tmp"
    dropped = 0
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename.startswith(tuple(prefixes)):
                dropped += info.compress_size
                continue
            data = src.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line for line in data.splitlines(keepends=True)
                                if not line.decode().startswith(tuple(prefixes)))
            dst.writestr(info, data)
    os.replace(tmp, path)
    return dropped


if __name__ == "__main__":
    print(f"{sys.argv[1]}: {slim(sys.argv[1], sys.argv[2:]) / 1e6:.1f} MB dropped")
