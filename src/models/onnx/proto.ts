// Encoding and decoding of ONNX model files with protobufjs over ONNX's own schema (onnxProto.ts), so the
// bytes are what the ONNX tools write and read. Field names are the schema's (snake_case, keepCase).
import protobuf from 'protobufjs';
import { ONNX_PROTO } from './onnxProto.js';

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BFLOAT16: 16 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export interface TensorProto {
  name: string;
  data_type: number;
  dims: number[];
  raw_data: Uint8Array;
}

export interface AttributeProto {
  name: string;
  type: number;
  i?: number;
  f?: number;
  s?: Uint8Array;
  ints?: number[];
  floats?: number[];
  t?: TensorProto;
}

export interface NodeProto {
  name: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
}

export interface ValueInfoProto {
  name: string;
  type: { tensor_type: { elem_type: number; shape?: { dim: ({ dim_value: number } | { dim_param: string })[] } } };
}

export interface ModelProto {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  opset_import: { domain: string; version: number }[];
  metadata_props: { key: string; value: string }[];
  graph: {
    name: string;
    node: NodeProto[];
    initializer: TensorProto[];
    input: ValueInfoProto[];
    output: ValueInfoProto[];
  };
}

let modelType: protobuf.Type | undefined;
function modelProtoType(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** The model's bytes as an .onnx file holds them. */
export function encodeModel(model: ModelProto): Uint8Array {
  const type = modelProtoType();
  // Plain objects that follow the schema encode directly; fromObject would copy every weight once more.
  return type.encode(model as unknown as protobuf.Message).finish();
}

/** Reads an .onnx file's bytes back (int64 fields as numbers, bytes as Uint8Array). */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const type = modelProtoType();
  return type.toObject(type.decode(bytes), { longs: Number, arrays: true, defaults: false }) as unknown as ModelProto;
}
