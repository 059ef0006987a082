// Typed access to the attributes hipfrac needs (image geometry, pixel encoding, VOI, identity, view), read
// from a parsed data set with errors that name the tag and the value found.
import { DicomError, formatTag } from './errors.js';
import { tagKey, type DataSet } from './parse.js';

export const Tag = {
  SopClassUid: 0x00080016,
  SopInstanceUid: 0x00080018,
  StudyDate: 0x00080020,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  Manufacturer: 0x00080070,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103e,
  ManufacturerModelName: 0x00081090,
  PatientName: 0x00100010,
  PatientId: 0x00100020,
  BodyPartExamined: 0x00180015,
  ProtocolName: 0x00181030,
  ImagerPixelSpacing: 0x00181164,
  ViewPosition: 0x00185101,
  StudyInstanceUid: 0x0020000d,
  SeriesInstanceUid: 0x0020000e,
  Laterality: 0x00200060,
  ImageLaterality: 0x00200062,
  SamplesPerPixel: 0x00280002,
  PhotometricInterpretation: 0x00280004,
  PlanarConfiguration: 0x00280006,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  PixelSpacing: 0x00280030,
  BitsAllocated: 0x00280100,
  BitsStored: 0x00280101,
  HighBit: 0x00280102,
  PixelRepresentation: 0x00280103,
  PixelPaddingValue: 0x00280120,
  PixelPaddingRangeLimit: 0x00280121,
  WindowCenter: 0x00281050,
  WindowWidth: 0x00281051,
  RescaleIntercept: 0x00281052,
  RescaleSlope: 0x00281053,
  RescaleType: 0x00281054,
  WindowCenterWidthExplanation: 0x00281055,
  VoiLutFunction: 0x00281056,
  ModalityLutSequence: 0x00283000,
  LutDescriptor: 0x00283002,
  LutData: 0x00283006,
  VoiLutSequence: 0x00283010,
  PresentationLutShape: 0x20500020,
  PixelData: 0x7fe00010,
} as const;

/** Reads attribute values from one data set (or a sequence item) and reports problems by tag. */
export class AttributeReader {
  constructor(
    readonly dataSet: DataSet,
    readonly file: string,
  ) {}

  has(tag: number): boolean {
    return this.dataSet.elements[tagKey(tag)] !== undefined;
  }

  /** Trimmed string value (first value unless index given), undefined when absent or empty. */
  string(tag: number, index?: number): string | undefined {
    const el = this.dataSet.elements[tagKey(tag)];
    if (el === undefined || el.length === 0) return undefined;
    const value = index === undefined ? this.dataSet.string(tagKey(tag)) : this.dataSet.string(tagKey(tag), index);
    if (value === undefined) return undefined;
    const trimmed = value.replace(/\0/g, '').trim();
    return trimmed === '' ? undefined : trimmed;
  }

  /** All backslash-separated values of a text attribute. */
  strings(tag: number): string[] {
    const el = this.dataSet.elements[tagKey(tag)];
    if (el === undefined || el.length === 0) return [];
    return readRawString(this.dataSet, tagKey(tag))
      .split('\\')
      .map((s) => s.replace(/\0/g, '').trim());
  }

  /** Numbers of a DS/IS attribute (decimal strings); bad entries are an error naming the value. */
  decimals(tag: number): number[] {
    return this.strings(tag)
      .filter((s) => s !== '')
      .map((s) => {
        const n = Number(s);
        if (!Number.isFinite(n)) {
          throw new DicomError('HF_DICOM_BAD_ATTRIBUTE', `${formatTag(tag)} holds a value that is not a number.`, {
            file: this.file,
            tag: formatTag(tag),
            value: s,
            fix: 'Correct the attribute with dcmodify, e.g. `dcmodify -m "(0028,1050)=40" file.dcm`.',
          });
        }
        return n;
      });
  }

  decimal(tag: number): number | undefined {
    return this.decimals(tag)[0];
  }

  /** An unsigned 16-bit attribute (US). */
  uint16(tag: number, index = 0): number | undefined {
    const el = this.dataSet.elements[tagKey(tag)];
    if (el === undefined || el.length < 2 * (index + 1)) return undefined;
    return this.dataSet.uint16(tagKey(tag), index);
  }

  requireUint16(tag: number, name: string): number {
    const value = this.uint16(tag);
    if (value === undefined) {
      throw new DicomError('HF_DICOM_MISSING_ATTRIBUTE', `${name} ${formatTag(tag)} is missing; it is required for an image.`, {
        file: this.file,
        tag: formatTag(tag),
        fix: `Add ${name} with dcmodify -i "${formatTag(tag)}=…", or re-export the file from the modality.`,
      });
    }
    return value;
  }

  /** Sequence items as readers. */
  items(tag: number): AttributeReader[] {
    const el = this.dataSet.elements[tagKey(tag)];
    if (el?.items === undefined) return [];
    return el.items.flatMap((item) => (item.dataSet === undefined ? [] : [new AttributeReader(item.dataSet, this.file)]));
  }

  /** Raw bytes of an element's value (a view into the file). */
  bytes(tag: number): Uint8Array | undefined {
    const el = this.dataSet.elements[tagKey(tag)];
    if (el === undefined) return undefined;
    return this.dataSet.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
  }

  /** Whether multi-byte values of this data set are big endian. */
  get bigEndian(): boolean {
    // dicom-parser keeps the byte order's parser on the data set; the big-endian one reads 0x0102 from [1,2].
    const probe = new Uint8Array([1, 2]);
    return this.dataSet.byteArrayParser.readUint16(probe, 0) === 0x0102;
  }
}

function readRawString(dataSet: DataSet, key: string): string {
  const el = dataSet.elements[key];
  if (el === undefined) return '';
  let out = '';
  const end = el.dataOffset + el.length;
  for (let i = el.dataOffset; i < end && i < dataSet.byteArray.length; i++) out += String.fromCharCode(dataSet.byteArray[i] as number);
  return out;
}
