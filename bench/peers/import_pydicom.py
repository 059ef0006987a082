#!/usr/bin/python3
# The peer for bench/import.ts: the same DICOM -> 16-bit PNG conversion written the usual way with Debian's
# pydicom + NumPy + Pillow (Modality LUT, VOI window, MONOCHROME1 inversion, longest side 512, Lanczos).
import json
import os
import sys
import time
from multiprocessing import Pool

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut

MAX_SIDE = 512


def convert(args):
    path, out_dir = args
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if arr.ndim == 3 and getattr(ds, 'SamplesPerPixel', 1) == 3:
        arr = arr @ np.array([0.299, 0.587, 0.114])
    else:
        arr = apply_modality_lut(arr, ds)
        if 'WindowCenter' in ds or 'VOILUTSequence' in ds:
            arr = apply_voi_lut(arr, ds, index=0)
    arr = arr.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    arr = (arr - lo) / (hi - lo if hi > lo else 1.0)
    if getattr(ds, 'PhotometricInterpretation', '') == 'MONOCHROME1':
        arr = 1.0 - arr
    img = Image.fromarray((arr * 65535).astype(np.int32), mode='I')
    scale = min(1.0, MAX_SIDE / max(img.size))
    if scale < 1.0:
        img = img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))), Image.LANCZOS)
    out = np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
    name = os.path.splitext(os.path.basename(path))[0] + '.png'
    Image.fromarray(out, mode='I;16').save(os.path.join(out_dir, name))
    return name


def main():
    in_dir, out_dir = sys.argv[1], sys.argv[2]
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.makedirs(out_dir, exist_ok=True)
    files = sorted(os.path.join(in_dir, f) for f in os.listdir(in_dir) if f.endswith('.dcm'))
    start = time.perf_counter()
    cpu_start = time.process_time()
    if processes > 1:
        with Pool(processes) as pool:
            done = pool.map(convert, [(f, out_dir) for f in files], chunksize=4)
    else:
        done = [convert((f, out_dir)) for f in files]
    seconds = time.perf_counter() - start
    # CPU time of this process (the conversions themselves when processes == 1)
    cpu_seconds = time.process_time() - cpu_start
    print(json.dumps({'files': len(done), 'seconds': seconds, 'cpu_seconds': cpu_seconds, 'processes': processes}))


if __name__ == '__main__':
    main()
