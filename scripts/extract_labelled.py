"""Class folders for the bench's ``prompts: true-class`` from a labelled set (CIFAR-10's tar or class folders): the
first N images of each class of a split, written as ``OUT/<class>/<class>-<name>.png`` (file names unique across
classes, as the bench needs). Deterministic; existing files are kept.

    python scripts/extract_labelled.py data:cifar10/cifar10-images.tar.gz --split test --per-class 20 -o runs/cifar-test
    inpaintkit bench --images runs/cifar-test/airplane ... --prompts true-class --model cifar10-text --out runs/pilot
    python scripts/extract_labelled.py --quick        # a tiny tar in a temporary folder
"""
from __future__ import annotations

import argparse
import io
import tarfile
import tempfile
from pathlib import Path

from PIL import Image

from inpaintkit.core.files import save_image
from inpaintkit.data.images import labelled_files


def extract(source, split: str, per_class: int, out: Path) -> list[Path]:
    written, counts = [], {}
    for cls, name, data in labelled_files(source, split):
        if counts.get(cls, 0) >= per_class:
            continue
        counts[cls] = counts.get(cls, 0) + 1
        path = out / cls / f"{cls}-{Path(name).stem}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(Image.open(io.BytesIO(data)).convert("RGB"), path)
        written.append(path)
    return written


def main(argv=None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", default="data:cifar10/cifar10-images.tar.gz")
    ap.add_argument("--split", default="test")
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        root = Path(tempfile.mkdtemp(prefix="labelled-"))
        with tarfile.open(root / "set.tar.gz", "w:gz") as archive:
            for cls in ("cat", "dog"):
                for k in range(3):
                    data = io.BytesIO()
                    Image.new("RGB", (8, 8), (40 * k, 90, 160)).save(data, "PNG")
                    info = tarfile.TarInfo(f"test/{cls}/{k:04d}.png")
                    info.size = len(data.getvalue())
                    archive.addfile(info, io.BytesIO(data.getvalue()))
        args.source, args.per_class, args.out = str(root / "set.tar.gz"), 2, root / "out"
    if args.out is None:
        ap.error("-o OUT is needed (or --quick)")
    written = extract(args.source, args.split, args.per_class, args.out)
    print(f"{len(written)} images in {len({p.parent for p in written})} class folders under {args.out}")
    return written


if __name__ == "__main__":
    main()
