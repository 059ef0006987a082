// Raw little-endian bytes ↔ tensors, shared by the safetensors and .pth readers and the writer.
// Bytes are copied into a uint8 tensor and reinterpreted in place (aten::view.dtype): no element conversion.
import { callTensor, tensor, tidy, type DType, type Tensor } from '../../torch/index.js';

/** Bytes per element of each dtype hipfrac reads and writes. */
export const ELEMENT_SIZE: Readonly<Record<DType, number>> = {
  float64: 8,
  int64: 8,
  float32: 4,
  int32: 4,
  float16: 2,
  bfloat16: 2,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** A tensor of `dtype` and `shape` holding a copy of `bytes` (which must be numel × element size long). */
export function tensorFromBytes(bytes: Uint8Array, dtype: DType, shape: readonly number[]): Tensor {
  return tidy(() => {
    const raw = tensor(bytes);
    const typed = dtype === 'uint8' ? raw : callTensor('aten::view', 'dtype', [raw, dtype]);
    return typed.reshape(shape);
  });
}

/** The tensor's elements as contiguous little-endian bytes (a copy; moves to the CPU when needed). */
export function tensorToBytes(t: Tensor): Uint8Array {
  const dtype = t.dtype;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    // dataSync() widens half floats to float32; reinterpret as int16 to keep the stored bits.
    const bits = tidy(() => callTensor('aten::view', 'dtype', [t, 'int16']).dataSync());
    return new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
  }
  const data = t.dataSync();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
