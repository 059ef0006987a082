// Transfer syntax and SOP class UIDs the reader knows, with what each means for decoding, and the
// rule deciding which SOP classes are images worth importing.

export type PixelEncoding =
  | 'native'
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-extended'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'jpeg2000'
  | 'htj2k';

export interface TransferSyntax {
  readonly uid: string;
  readonly name: string;
  readonly encoding: PixelEncoding;
  readonly littleEndian: boolean;
  readonly explicitVr: boolean;
  readonly deflated: boolean;
  readonly lossy: boolean;
}

const ts = (
  uid: string,
  name: string,
  encoding: PixelEncoding,
  extra: Partial<Pick<TransferSyntax, 'littleEndian' | 'explicitVr' | 'deflated' | 'lossy'>> = {},
): TransferSyntax => ({
  uid,
  name,
  encoding,
  littleEndian: extra.littleEndian ?? true,
  explicitVr: extra.explicitVr ?? true,
  deflated: extra.deflated ?? false,
  lossy: extra.lossy ?? false,
});

export const TRANSFER_SYNTAXES: readonly TransferSyntax[] = [
  ts('1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native', { explicitVr: false }),
  ts('1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native'),
  ts('1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'native', { deflated: true }),
  ts('1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native', { littleEndian: false }),
  ts('1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'),
  ts('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg-baseline', { lossy: true }),
  ts('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg-extended', { lossy: true }),
  ts('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless'),
  ts('1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 SV1)', 'jpeg-lossless'),
  ts('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless', 'jpeg-ls'),
  ts('1.2.840.10008.1.2.4.81', 'JPEG-LS Near-Lossless', 'jpeg-ls', { lossy: true }),
  ts('1.2.840.10008.1.2.4.90', 'JPEG 2000 Lossless Only', 'jpeg2000'),
  ts('1.2.840.10008.1.2.4.91', 'JPEG 2000', 'jpeg2000', { lossy: true }),
  ts('1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Lossless Only', 'htj2k'),
  ts('1.2.840.10008.1.2.4.202', 'High-Throughput JPEG 2000 with RPCL Lossless Only', 'htj2k'),
  ts('1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000', 'htj2k', { lossy: true }),
];

const BY_UID = new Map(TRANSFER_SYNTAXES.map((t) => [t.uid, t]));

export function transferSyntax(uid: string): TransferSyntax | undefined {
  return BY_UID.get(uid);
}

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** SOP classes that carry no radiograph even when they are valid DICOM (prefix match), with a reason. */
const NON_IMAGE_SOP_CLASSES: readonly (readonly [string, string])[] = [
  ['1.2.840.10008.1.3.10', 'Media Storage Directory (DICOMDIR)'],
  ['1.2.840.10008.5.1.4.1.1.88.', 'Structured Report'],
  ['1.2.840.10008.5.1.4.1.1.11.', 'Presentation State'],
  ['1.2.840.10008.5.1.4.1.1.9.', 'Waveform'],
  ['1.2.840.10008.5.1.4.1.1.104.', 'Encapsulated document (PDF/CDA/STL)'],
  ['1.2.840.10008.5.1.4.1.1.66', 'Raw data / registration / segmentation / surface'],
  ['1.2.840.10008.5.1.4.1.1.481.2', 'RT Dose'],
  ['1.2.840.10008.5.1.4.1.1.481.3', 'RT Structure Set'],
  ['1.2.840.10008.5.1.4.1.1.481.4', 'RT Beams Treatment Record'],
  ['1.2.840.10008.5.1.4.1.1.481.5', 'RT Plan'],
  ['1.2.840.10008.5.1.4.1.1.481.6', 'RT Brachy Treatment Record'],
  ['1.2.840.10008.5.1.4.1.1.481.7', 'RT Treatment Summary Record'],
  ['1.2.840.10008.5.1.4.1.1.481.8', 'RT Ion Plan'],
  ['1.2.840.10008.5.1.4.1.1.481.9', 'RT Ion Beams Treatment Record'],
  ['1.2.840.10008.5.1.4.34.', 'RT / workflow object'],
  ['1.2.840.10008.5.1.4.1.1.91.', 'Spectroscopy / measurement object'],
];

/** Why a SOP class is not an image to import, or undefined when it may be one. */
export function nonImageReason(sopClassUid: string): string | undefined {
  for (const [prefix, reason] of NON_IMAGE_SOP_CLASSES) {
    if (sopClassUid === prefix || (prefix.endsWith('.') && sopClassUid.startsWith(prefix))) return reason;
    if (!prefix.endsWith('.') && sopClassUid.startsWith(prefix) && (sopClassUid.length === prefix.length || sopClassUid[prefix.length] === '.')) return reason;
  }
  return undefined;
}
