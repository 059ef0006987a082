// A sequential-DCT JPEG decoder (ITU T.81 processes 1, 2 and 4: Huffman, 8- or 12-bit samples) for the
// DICOM JPEG Extended transfer syntax, which the 8-bit libjpeg-turbo WASM build cannot decode.
import type { CodecFrame } from './codecs.js';

const ZIGZAG = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57,
  50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

// cos((2x+1)uπ/16)·C(u)/2, the separable 1-D inverse DCT basis.
const IDCT_BASIS = (() => {
  const basis = new Float64Array(64);
  for (let x = 0; x < 8; x++) {
    for (let u = 0; u < 8; u++) basis[x * 8 + u] = (u === 0 ? Math.SQRT1_2 : 1) * Math.cos(((2 * x + 1) * u * Math.PI) / 16) / 2;
  }
  return basis;
})();

interface Huffman {
  /** code lookup keyed by (length << 16 | code). */
  readonly table: Map<number, number>;
}

interface Component {
  readonly id: number;
  readonly h: number;
  readonly v: number;
  readonly tq: number;
  blocksPerLine: number;
  blocksPerColumn: number;
  coefficients: Int32Array;
  dcTable: Huffman | undefined;
  acTable: Huffman | undefined;
  pred: number;
}

function buildHuffman(counts: Uint8Array, symbols: Uint8Array): Huffman {
  const table = new Map<number, number>();
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    for (let i = 0; i < (counts[length - 1] as number); i++) table.set((length << 16) | code++, symbols[k++] as number);
    code <<= 1;
  }
  return { table };
}

class BitReader {
  private bits = 0;
  private count = 0;
  constructor(
    private readonly data: Uint8Array,
    public pos: number,
  ) {}

  bit(): number {
    if (this.count === 0) {
      if (this.pos >= this.data.length) throw new Error('JPEG entropy data ends early');
      let byte = this.data[this.pos++] as number;
      if (byte === 0xff) {
        const next = this.data[this.pos] as number;
        if (next === 0) this.pos++;
        else if (next >= 0xd0 && next <= 0xd7) byte = 0; // a restart marker met mid-byte: pad with zeros
        else throw new Error(`JPEG marker FF${next.toString(16)} inside entropy-coded data`);
      }
      this.bits = byte;
      this.count = 8;
    }
    this.count--;
    return (this.bits >> this.count) & 1;
  }

  receive(length: number): number {
    let value = 0;
    for (let i = 0; i < length; i++) value = (value << 1) | this.bit();
    return value;
  }

  /** Reads `length` bits and extends the sign as T.81 F.2.2.1 (EXTEND). */
  receiveExtend(length: number): number {
    if (length === 0) return 0;
    const value = this.receive(length);
    return value < 1 << (length - 1) ? value - (1 << length) + 1 : value;
  }

  decode(huffman: Huffman): number {
    let code = 0;
    for (let length = 1; length <= 16; length++) {
      code = (code << 1) | this.bit();
      const symbol = huffman.table.get((length << 16) | code);
      if (symbol !== undefined) return symbol;
    }
    throw new Error('JPEG Huffman code not found in table');
  }

  /** Skips to the byte after the next RSTn marker and clears the bit buffer. */
  restart(): void {
    this.count = 0;
    while (this.pos + 1 < this.data.length && !(this.data[this.pos] === 0xff && (this.data[this.pos + 1] as number) >= 0xd0 && (this.data[this.pos + 1] as number) <= 0xd7)) this.pos++;
    this.pos += 2;
  }
}

/** Decodes a baseline or extended sequential Huffman JPEG (8 or 12 bits, any component count). */
export function decodeSequentialJpeg(data: Uint8Array): CodecFrame {
  if (data[0] !== 0xff || data[1] !== 0xd8) throw new Error('not a JPEG stream (no SOI marker)');
  const quant: Int32Array[] = [];
  const dcTables: Huffman[] = [];
  const acTables: Huffman[] = [];
  let components: Component[] = [];
  let precision = 8;
  let width = 0;
  let height = 0;
  let hMax = 1;
  let vMax = 1;
  let restartInterval = 0;
  let pos = 2;
  const u16 = (at: number): number => (((data[at] as number) << 8) | (data[at + 1] as number)) >>> 0;
  while (pos < data.length) {
    if (data[pos] !== 0xff) {
      pos++;
      continue;
    }
    const marker = data[pos + 1] as number;
    pos += 2;
    if (marker === 0xd9) break;
    if (marker === 0xff || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      if (marker === 0xff) pos--;
      continue;
    }
    const length = u16(pos);
    const end = pos + length;
    if (end > data.length) throw new Error(`JPEG segment FF${marker.toString(16)} runs past the end of the frame`);
    if (marker === 0xdb) {
      let p = pos + 2;
      while (p < end) {
        const pq = (data[p] as number) >> 4;
        const tq = (data[p] as number) & 15;
        p++;
        const table = new Int32Array(64);
        for (let i = 0; i < 64; i++) {
          table[ZIGZAG[i] as number] = pq === 0 ? (data[p] as number) : u16(p);
          p += pq === 0 ? 1 : 2;
        }
        quant[tq] = table;
      }
    } else if (marker === 0xc4) {
      let p = pos + 2;
      while (p < end) {
        const tc = (data[p] as number) >> 4;
        const th = (data[p] as number) & 15;
        const counts = data.subarray(p + 1, p + 17);
        const total = counts.reduce((a, b) => a + b, 0);
        const table = buildHuffman(counts, data.subarray(p + 17, p + 17 + total));
        if (tc === 0) dcTables[th] = table;
        else acTables[th] = table;
        p += 17 + total;
      }
    } else if (marker === 0xc0 || marker === 0xc1) {
      precision = data[pos + 2] as number;
      height = u16(pos + 3);
      width = u16(pos + 5);
      const count = data[pos + 7] as number;
      components = [];
      for (let c = 0; c < count; c++) {
        const at = pos + 8 + 3 * c;
        components.push({
          id: data[at] as number,
          h: (data[at + 1] as number) >> 4,
          v: (data[at + 1] as number) & 15,
          tq: data[at + 2] as number,
          blocksPerLine: 0,
          blocksPerColumn: 0,
          coefficients: new Int32Array(0),
          dcTable: undefined,
          acTable: undefined,
          pred: 0,
        });
      }
      hMax = Math.max(...components.map((c) => c.h));
      vMax = Math.max(...components.map((c) => c.v));
      const mcusPerLine = Math.ceil(width / (8 * hMax));
      const mcusPerColumn = Math.ceil(height / (8 * vMax));
      for (const c of components) {
        c.blocksPerLine = mcusPerLine * c.h;
        c.blocksPerColumn = mcusPerColumn * c.v;
        c.coefficients = new Int32Array(c.blocksPerLine * c.blocksPerColumn * 64);
      }
    } else if (marker >= 0xc2 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      throw new Error(`JPEG process with SOF marker FF${marker.toString(16)} (progressive, lossless or arithmetic) is not handled by the sequential decoder`);
    } else if (marker === 0xdd) {
      restartInterval = u16(pos + 2);
    } else if (marker === 0xda) {
      const count = data[pos + 2] as number;
      const scan: Component[] = [];
      for (let i = 0; i < count; i++) {
        const id = data[pos + 3 + 2 * i] as number;
        const tables = data[pos + 4 + 2 * i] as number;
        const component = components.find((c) => c.id === id);
        if (component === undefined) throw new Error(`JPEG scan names component ${id} not in the frame header`);
        component.dcTable = dcTables[tables >> 4];
        component.acTable = acTables[tables & 15];
        component.pred = 0;
        scan.push(component);
      }
      pos = decodeScan(data, end, scan, restartInterval, width, height, hMax, vMax);
      continue;
    }
    pos = end;
  }
  if (width === 0 || components.length === 0) throw new Error('JPEG stream has no SOF0/SOF1 frame header');
  return { width, height, components: components.length, bitsPerSample: precision, samples: render(components, quant, width, height, hMax, vMax, precision) };
}

function decodeBlock(reader: BitReader, component: Component, offset: number): void {
  const { dcTable, acTable } = component;
  if (dcTable === undefined || acTable === undefined) throw new Error(`JPEG component ${component.id} has no Huffman table`);
  const t = reader.decode(dcTable);
  component.pred += reader.receiveExtend(t);
  const out = component.coefficients;
  out[offset] = component.pred;
  for (let k = 1; k < 64; ) {
    const rs = reader.decode(acTable);
    const r = rs >> 4;
    const s = rs & 15;
    if (s === 0) {
      if (r < 15) break;
      k += 16;
      continue;
    }
    k += r;
    if (k > 63) throw new Error('JPEG AC coefficient index past 63');
    out[offset + (ZIGZAG[k] as number)] = reader.receiveExtend(s);
    k++;
  }
}

function decodeScan(data: Uint8Array, start: number, scan: Component[], restartInterval: number, width: number, height: number, hMax: number, vMax: number): number {
  const reader = new BitReader(data, start);
  const single = scan.length === 1;
  let mcuCount: number;
  let mcusPerLine: number;
  if (single) {
    const c = scan[0] as Component;
    mcusPerLine = Math.ceil(Math.ceil((width * c.h) / hMax) / 8);
    const rows = Math.ceil(Math.ceil((height * c.v) / vMax) / 8);
    mcuCount = mcusPerLine * rows;
  } else {
    mcusPerLine = Math.ceil(width / (8 * hMax));
    mcuCount = mcusPerLine * Math.ceil(height / (8 * vMax));
  }
  for (let mcu = 0; mcu < mcuCount; mcu++) {
    if (restartInterval > 0 && mcu > 0 && mcu % restartInterval === 0) {
      reader.restart();
      for (const c of scan) c.pred = 0;
    }
    const mcuRow = Math.floor(mcu / mcusPerLine);
    const mcuCol = mcu % mcusPerLine;
    if (single) {
      const c = scan[0] as Component;
      decodeBlock(reader, c, (mcuRow * c.blocksPerLine + mcuCol) * 64);
    } else {
      for (const c of scan) {
        for (let v = 0; v < c.v; v++) {
          for (let h = 0; h < c.h; h++) {
            const blockRow = mcuRow * c.v + v;
            const blockCol = mcuCol * c.h + h;
            decodeBlock(reader, c, (blockRow * c.blocksPerLine + blockCol) * 64);
          }
        }
      }
    }
  }
  // Continue after the entropy data: find the next marker that is not a stuffed byte or RST.
  let pos = reader.pos;
  while (pos + 1 < data.length && !(data[pos] === 0xff && data[pos + 1] !== 0 && !((data[pos + 1] as number) >= 0xd0 && (data[pos + 1] as number) <= 0xd7))) pos++;
  return pos;
}

function render(components: Component[], quant: Int32Array[], width: number, height: number, hMax: number, vMax: number, precision: number): Uint8Array | Uint16Array {
  const maxValue = (1 << precision) - 1;
  const shift = 1 << (precision - 1);
  const out = precision > 8 ? new Uint16Array(width * height * components.length) : new Uint8Array(width * height * components.length);
  const block = new Float64Array(64);
  const temp = new Float64Array(64);
  for (let ci = 0; ci < components.length; ci++) {
    const c = components[ci] as Component;
    const q = quant[c.tq];
    if (q === undefined) throw new Error(`JPEG quantisation table ${c.tq} missing`);
    const planeWidth = c.blocksPerLine * 8;
    const plane = new Float64Array(planeWidth * c.blocksPerColumn * 8);
    for (let by = 0; by < c.blocksPerColumn; by++) {
      for (let bx = 0; bx < c.blocksPerLine; bx++) {
        const offset = (by * c.blocksPerLine + bx) * 64;
        for (let i = 0; i < 64; i++) block[i] = (c.coefficients[offset + i] as number) * (q[i] as number);
        // rows then columns of the separable inverse DCT
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) {
            let sum = 0;
            for (let u = 0; u < 8; u++) sum += (IDCT_BASIS[x * 8 + u] as number) * (block[y * 8 + u] as number);
            temp[y * 8 + x] = sum;
          }
        }
        for (let x = 0; x < 8; x++) {
          for (let y = 0; y < 8; y++) {
            let sum = 0;
            for (let v = 0; v < 8; v++) sum += (IDCT_BASIS[y * 8 + v] as number) * (temp[v * 8 + x] as number);
            plane[(by * 8 + y) * planeWidth + bx * 8 + x] = sum;
          }
        }
      }
    }
    const sx = c.h / hMax;
    const sy = c.v / vMax;
    for (let y = 0; y < height; y++) {
      const py = Math.floor(y * sy);
      for (let x = 0; x < width; x++) {
        const value = Math.round((plane[py * planeWidth + Math.floor(x * sx)] as number) + shift);
        out[(y * width + x) * components.length + ci] = value < 0 ? 0 : value > maxValue ? maxValue : value;
      }
    }
  }
  return out;
}
