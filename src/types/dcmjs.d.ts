// The part of dcmjs's API hipfrac uses (the package ships no type declarations).
declare module 'dcmjs' {
  /** A dataset by DICOM keywords (PatientName, Rows, …); sequences are arrays of such objects. */
  export type NaturalDataset = Record<string, unknown>;
  /** A dataset by tag ("00100010") with { vr, Value } entries: dcmjs's wire-level form. */
  export type DenaturalizedDataset = Record<string, { vr: string; Value?: unknown[] }>;
  export namespace data {
    class DicomDict {
      constructor(meta: DenaturalizedDataset);
      meta: DenaturalizedDataset;
      dict: DenaturalizedDataset;
      write(options?: { allowInvalidVRLength?: boolean; fragmentMultiframe?: boolean }): ArrayBuffer;
    }
    /** One of dcmjs's value representations: how it pads, limits and frames a value of this VR. */
    interface ValueRepresentationRules {
      readonly padByte: number;
      readonly maxLength?: number | null;
      isLength32(): boolean;
      allowMultiple(): boolean;
    }
    class ValueRepresentation {
      static createByTypeString(type: string): ValueRepresentationRules;
    }
    class WriteBufferStream {
      constructor(defaultSize?: number, littleEndian?: boolean);
      getBuffer(): ArrayBuffer;
    }
    class DicomMessage {
      /** Writes the elements of `dict` (no file meta) to `stream` in `transferSyntaxUid`; returns the bytes written. */
      static write(dict: DenaturalizedDataset, stream: WriteBufferStream, transferSyntaxUid: string, options?: { allowInvalidVRLength?: boolean; fragmentMultiframe?: boolean }): number;
      static readFile(buffer: ArrayBuffer, options?: { ignoreErrors?: boolean; untilTag?: string; includeUntilTagValue?: boolean }): DicomDict;
    }
    const DicomMetaDictionary: {
      naturalizeDataset(dataset: DenaturalizedDataset): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): DenaturalizedDataset;
      uid(): string;
      dictionary: Record<string, { tag: string; vr: string; name: string; vm: string; version: string }>;
      nameMap: Record<string, { tag: string; vr: string; name: string; vm: string; version: string }>;
    };
  }
  const dcmjs: { data: typeof data };
  export default dcmjs;
}
