// VRs by tag from dcmjs's data dictionary, for implicit-VR input where the file does not say. Repeating groups
// (50xx curves, 60xx overlays) are looked up by their first group; ambiguous VRs come back lower-case as dcmjs
// writes them ('ox' OB/OW, 'xs' US/SS, 'lt' US/OW) and are settled by resolveVr from the image's own attributes.
import dcmjs from 'dcmjs';

const DICTIONARY = dcmjs.data.DicomMetaDictionary.dictionary;

function key(tag: number): string {
  const hex = (tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

/** The dictionary VR of a tag, or undefined for private and unknown tags. */
export function dictionaryVr(tag: number): string | undefined {
  const group = tag >>> 16;
  if (group % 2 === 1) return undefined;
  const direct = DICTIONARY[key(tag)];
  if (direct !== undefined) return direct.vr;
  if ((group & 0xff00) === 0x5000 || (group & 0xff00) === 0x6000) return DICTIONARY[key(((group & 0xff00) << 16) | (tag & 0xffff))]?.vr;
  return undefined;
}

/** What the pixel module says about ambiguous VRs. */
export interface VrContext {
  readonly bitsAllocated: number;
  readonly pixelRepresentation: number;
}

/** A concrete VR: the file's own, else the dictionary's with ambiguity settled, else UN. */
export function resolveVr(tag: number, fileVr: string | undefined, context: VrContext): string {
  const vr = fileVr ?? dictionaryVr(tag) ?? 'UN';
  switch (vr) {
    case 'ox':
      return context.bitsAllocated > 8 ? 'OW' : 'OB';
    case 'xs':
      return context.pixelRepresentation === 1 ? 'SS' : 'US';
    case 'lt':
      return 'OW';
    case 'up':
      return 'UL';
    case 'na':
      return 'UN';
    default:
      return vr;
  }
}

/** dicom-parser's implicit-VR hook: tells sequences (SQ) apart from values of defined length. */
export function implicitVrCallback(tagKey: string): string {
  return dictionaryVr(parseInt(tagKey.slice(1), 16) >>> 0) ?? 'UN';
}
