// A Secondary Capture per reviewed image: the radiograph with its Grad-CAM heatmap and a burned-in banner
// (decision, probability, "AI result — not for diagnosis"), in the source's patient/study context, new series.
// The banner is an SVG composited by sharp; the DICOM goes through src/dicom's one writer.
import sharp from 'sharp';
import { patientStudyAttributes, writeDicom, type NaturalDataset } from '../../dicom/index.js';

export const SECONDARY_CAPTURE_STORAGE = '1.2.840.10008.5.1.4.1.1.7';

export interface SecondaryCaptureInput {
  /** The overlay PNG (radiograph + heatmap, RGB) at the image's resolution. */
  readonly overlayPng: Buffer;
  /** Patient/study attributes of the source image (copied), and its SOP class/instance for the reference. */
  readonly source: NaturalDataset;
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly seriesNumber: number;
  readonly instanceNumber: number;
  /** e.g. 'Needs radiologist review'. */
  readonly decision: string;
  readonly fractureProbability: number;
  readonly created: Date;
}

/** The banner's lines (also what the tests look for in the image's text attributes). */
export function bannerLines(decision: string, probability: number): [string, string] {
  return [`${decision} - P(fracture) ${(100 * probability).toFixed(1)} %`, 'AI result \u2014 not for diagnosis'];
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The overlay with the banner burned in, at least 512 px wide so the text stays legible; raw RGB. */
export async function renderBannered(overlayPng: Buffer, decision: string, probability: number): Promise<{ width: number; height: number; rgb: Buffer }> {
  const meta = await sharp(overlayPng).metadata();
  const width0 = meta.width ?? 512;
  const height0 = meta.height ?? 512;
  const scale = width0 < 512 ? 512 / width0 : 1;
  const width = Math.round(width0 * scale);
  const imageHeight = Math.round(height0 * scale);
  const fontSize = Math.max(16, Math.round(width / 30));
  const bannerHeight = Math.round(fontSize * 3.2);
  const [line1, line2] = bannerLines(decision, probability);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${bannerHeight}">
  <rect width="100%" height="100%" fill="black"/>
  <text x="${fontSize / 2}" y="${fontSize * 1.25}" font-family="DejaVu Sans, sans-serif" font-size="${fontSize}" font-weight="bold" fill="white">${xmlEscape(line1)}</text>
  <text x="${fontSize / 2}" y="${fontSize * 2.6}" font-family="DejaVu Sans, sans-serif" font-size="${fontSize}" fill="yellow">${xmlEscape(line2)}</text>
</svg>`;
  const resized = await sharp(overlayPng).removeAlpha().resize(width, imageHeight, { kernel: 'lanczos3' }).png().toBuffer();
  const { data, info } = await sharp({ create: { width, height: imageHeight + bannerHeight, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: resized, top: 0, left: 0 }, { input: Buffer.from(svg), top: imageHeight, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: data };
}

const da = (d: Date): string => d.toISOString().slice(0, 10).replace(/-/g, '');
const tm = (d: Date): string => d.toISOString().slice(11, 19).replace(/:/g, '');

export async function buildSecondaryCapture(input: SecondaryCaptureInput): Promise<Buffer> {
  const { width, height, rgb } = await renderBannered(input.overlayPng, input.decision, input.fractureProbability);
  const s = input.source;
  const pixels = rgb.buffer.slice(rgb.byteOffset, rgb.byteOffset + rgb.byteLength) as ArrayBuffer;
  const dataset: NaturalDataset = {
    SOPClassUID: SECONDARY_CAPTURE_STORAGE,
    SOPInstanceUID: input.sopInstanceUid,
    InstanceCreationDate: da(input.created),
    InstanceCreationTime: tm(input.created),
    ImageType: ['DERIVED', 'SECONDARY'],
    ...patientStudyAttributes(s),
    Modality: 'OT',
    SeriesInstanceUID: input.seriesInstanceUid,
    SeriesNumber: input.seriesNumber,
    SeriesDescription: 'hipfrac AI heatmap (not for diagnosis)',
    Laterality: '',
    ConversionType: 'WSD',
    Manufacturer: 'hipfrac',
    InstanceNumber: input.instanceNumber,
    PatientOrientation: '',
    BurnedInAnnotation: 'YES',
    LossyImageCompression: '00',
    DerivationDescription: 'Grad-CAM heatmap over the source radiograph with a burned-in AI result banner',
    SourceImageSequence: [{ ReferencedSOPClassUID: s['SOPClassUID'], ReferencedSOPInstanceUID: s['SOPInstanceUID'] }],
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: height,
    Columns: width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels],
    _vrMap: { PixelData: 'OB' },
  };
  return writeDicom(dataset);
}
