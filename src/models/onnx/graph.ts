// A small builder for ONNX graphs: nodes with unique output names, float32 / int64 initialisers from
// typed arrays, attributes typed as the schema wants them. The exporter and the quantiser write through it.
import { DataType, type AttributeProto, type NodeProto, type TensorProto } from './proto.js';

/** An attribute value: numbers are INT unless wrapped with `floatAttr`; arrays are INTS unless `floatsAttr`. */
export type AttrValue = number | readonly number[] | string | { readonly float: number } | { readonly floats: readonly number[] };

export const floatAttr = (value: number): AttrValue => ({ float: value });
export const floatsAttr = (values: readonly number[]): AttrValue => ({ floats: values });

// AttributeProto.AttributeType values.
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** One attribute typed as the schema wants it. */
export function attribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'number') return { name, type: ATTR.INT, i: value };
  if (typeof value === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: ATTR.INTS, ints: [...(value as number[])] };
  if ('float' in value) return { name, type: ATTR.FLOAT, f: value.float };
  return { name, type: ATTR.FLOATS, floats: [...(value as { floats: readonly number[] }).floats] };
}

function bytesOf(data: Float32Array | BigInt64Array | Int8Array | Uint8Array | Int32Array | Uint16Array): Uint8Array {
  // Little-endian raw_data, as ONNX specifies; every platform Node runs on here is little-endian.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly floatData = new Map<string, Float32Array>();

  /** A builder with this one's initialisers and names, and no nodes (the quantiser rewrites the node list). */
  derive(): GraphBuilder {
    const next = new GraphBuilder();
    next.initializers.push(...this.initializers);
    for (const name of this.used) next.used.add(name);
    for (const [name, data] of this.floatData) next.floatData.set(name, data);
    return next;
  }

  /** Drops initialisers no node reads (weights replaced by their int8 form). */
  pruneInitializers(): void {
    const read = new Set(this.nodes.flatMap((n) => n.input));
    const kept = this.initializers.filter((t) => read.has(t.name));
    this.initializers.length = 0;
    this.initializers.push(...kept);
  }

  /** A name not used yet, from a hint (a module path or an operator). */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** A float32 initialiser; returns its name. */
  float(name: string, data: Float32Array, dims: readonly number[]): string {
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, data_type: DataType.FLOAT, dims: [...dims], raw_data: bytesOf(data) });
    this.floatData.set(unique, data);
    return unique;
  }

  /** An int64 initialiser (shapes, axes). */
  int64(name: string, values: readonly number[]): string {
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, data_type: DataType.INT64, dims: [values.length], raw_data: bytesOf(BigInt64Array.from(values, (v) => BigInt(v))) });
    return unique;
  }

  /** An initialiser of any type from raw values. */
  raw(name: string, dataType: number, data: Int8Array | Uint8Array | Int32Array | Uint16Array | Float32Array, dims: readonly number[]): string {
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, data_type: dataType, dims: [...dims], raw_data: bytesOf(data) });
    return unique;
  }

  /** The float32 values of an initialiser written with `float` (the quantiser reads weights back). */
  floatValues(name: string): Float32Array | undefined {
    return this.floatData.get(name);
  }

  /** Adds a node with one output; returns the output's name. */
  node(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttrValue>> = {}, hint = opType): string {
    const output = this.fresh(hint);
    this.nodes.push({
      name: `${output}:${opType}`,
      op_type: opType,
      input: [...inputs],
      output: [output],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }
}
