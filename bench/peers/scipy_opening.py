#!/usr/bin/python3
# The peer for bench/markers.ts: the grey opening (erosion then dilation over a square) of the marker detector's
# top-hat, written the usual way with Debian's SciPy (scipy.ndimage.grey_opening, mode 'nearest': repeating the edge
# value gives the window cut at the image's edge, as hipfrac's filter does). One JSON request per line on stdin:
#   {"cmd": "load", "file": F}              planes: per image int32 width, int32 height, then float32 values
#   {"cmd": "run", "iters": N, "warmup": W} seconds (wall and CPU) per pass over every loaded image
#   {"cmd": "dump", "file": F}              every opening, float32, one after the other
import json
import sys
import time

import numpy as np
import scipy
from scipy import ndimage

planes = []


def radius(width, height):
    return max(2, round(min(width, height) / 20))


def opening(plane):
    h, w = plane.shape
    k = 2 * radius(w, h) + 1
    return ndimage.grey_opening(plane, size=(k, k), mode='nearest')


def load(path):
    data = open(path, 'rb').read()
    out, at = [], 0
    while at < len(data):
        w, h = np.frombuffer(data, dtype=np.int32, count=2, offset=at)
        at += 8
        out.append(np.frombuffer(data, dtype=np.float32, count=int(w) * int(h), offset=at).reshape(int(h), int(w)).copy())
        at += 4 * int(w) * int(h)
    return out


for line in sys.stdin:
    request = json.loads(line)
    try:
        if request['cmd'] == 'load':
            planes = load(request['file'])
            reply = {'images': len(planes), 'scipy': scipy.__version__}
        elif request['cmd'] == 'run':
            for _ in range(request.get('warmup', 1)):
                for p in planes:
                    opening(p)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(request['iters']):
                for p in planes:
                    opening(p)
            reply = {'seconds': (time.perf_counter() - wall) / request['iters'], 'cpu_seconds': (time.process_time() - cpu) / request['iters']}
        elif request['cmd'] == 'dump':
            with open(request['file'], 'wb') as f:
                for p in planes:
                    f.write(opening(p).astype(np.float32).tobytes())
            reply = {'images': len(planes)}
        else:
            reply = {'error': f"unknown command {request['cmd']}"}
    except Exception as error:  # the bench shows the message
        reply = {'error': str(error)}
    print(json.dumps(reply), flush=True)
