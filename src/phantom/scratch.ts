// Reusable zeroed work buffers, one set per thread: page faults on fresh multi-megabyte arrays are slow on
// these VMs (~10 µs per page), and a 1024² render needs several 4 MB maps.
const f32 = new Map<string, Float32Array>();
const u8 = new Map<string, Uint8Array>();

/** A zero-filled Float32Array of length n, reused between calls with the same key. */
export function scratchF32(key: string, n: number): Float32Array {
  let a = f32.get(key);
  if (a === undefined || a.length !== n) {
    a = new Float32Array(n);
    f32.set(key, a);
  } else a.fill(0);
  return a;
}

/** A zero-filled Uint8Array of length n, reused between calls with the same key. */
export function scratchU8(key: string, n: number): Uint8Array {
  let a = u8.get(key);
  if (a === undefined || a.length !== n) {
    a = new Uint8Array(n);
    u8.set(key, a);
  } else a.fill(0);
  return a;
}
