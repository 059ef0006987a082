// A Secondary Capture per reviewed image: the radiograph with its Grad-CAM heatmap and a burned-in banner
// (decision, probability, "AI result — not for diagnosis") and, for a model with a box head, its fracture boxes
// outlined with their scores; in the source's patient/study context, new series.
// The banner is an SVG composited by sharp; the DICOM goes through src/dicom's one writer.
import sharp, { type OverlayOptions } from 'sharp';
import { patientStudyAttributes, writeDicom, type NaturalDataset } from '../../dicom/index.js';
import { drawBoxOutlines, type PixelFractureBox } from '../../explain/index.js';

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
  /** The box head's fracture boxes to outline (absent or empty: none). */
  readonly boxes?: BoxesToDraw;
  readonly created: Date;
}

/** The colour of the predicted fracture boxes: magenta, which the jet heatmap over a grey radiograph never shows. */
export const BOX_COLOUR: readonly [number, number, number] = [255, 0, 255];

/** The banner's lines (also what the tests look for in the image's text attributes); a legend when boxes are drawn. */
export function bannerLines(decision: string, probability: number, boxCount = 0): string[] {
  return [
    `${decision} - P(fracture) ${(100 * probability).toFixed(1)} %`,
    ...(boxCount > 0 ? [`Magenta: ${boxCount} predicted fracture region${boxCount === 1 ? '' : 's'} (score beside each)`] : []),
    'AI result \u2014 not for diagnosis',
  ];
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Fracture boxes to draw: in the source image's pixels, with the origin of the region the overlay shows (a crop). */
export interface BoxesToDraw {
  readonly boxes: readonly PixelFractureBox[];
  readonly regionOrigin: readonly [number, number];
}

/** Outline thickness on an image `width` pixels wide: 2 px at 512, growing with the image so it stays visible. */
export const boxThickness = (width: number): number => Math.max(2, Math.round(width / 256));

/**
 * The overlay with the banner burned in, at least 512 px wide so the text stays legible; raw RGB. Fracture boxes, when
 * given, are outlined in BOX_COLOUR at the resized image's scale, each with its score beside it.
 */
export async function renderBannered(overlayPng: Buffer, decision: string, probability: number, drawn?: BoxesToDraw): Promise<{ width: number; height: number; rgb: Buffer }> {
  const meta = await sharp(overlayPng).metadata();
  const width0 = meta.width ?? 512;
  const height0 = meta.height ?? 512;
  const scale = width0 < 512 ? 512 / width0 : 1;
  const width = Math.round(width0 * scale);
  const imageHeight = Math.round(height0 * scale);
  const fontSize = Math.max(16, Math.round(width / 30));
  const boxes = drawn?.boxes ?? [];
  const lines = bannerLines(decision, probability, boxes.length);
  const bannerHeight = Math.round(fontSize * (1.35 * lines.length + 0.5));
  const text = lines
    .map((line, i) => `<text x="${fontSize / 2}" y="${fontSize * (1.25 + 1.35 * i)}" font-family="DejaVu Sans, sans-serif" font-size="${fontSize}"${i === 0 ? ' font-weight="bold"' : ''} fill="${i === 0 ? 'white' : i === lines.length - 1 ? 'yellow' : 'magenta'}">${xmlEscape(line)}</text>`)
    .join('\n  ');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${bannerHeight}">
  <rect width="100%" height="100%" fill="black"/>
  ${text}
</svg>`;
  const resized = await sharp(overlayPng).removeAlpha().toColourspace('srgb').resize(width, imageHeight, { kernel: 'lanczos3' }).raw().toBuffer({ resolveWithObject: true });
  const image = { width, height: imageHeight, data: resized.data };
  const layers: OverlayOptions[] = [];
  if (boxes.length > 0 && drawn !== undefined) {
    // Source pixels → fractions of the overlay (which starts at the region's origin), then the resized image's pixels.
    const [ox, oy] = drawn.regionOrigin;
    const fractions = boxes.map(({ box }) => [(box[0] - ox) / width0, (box[1] - oy) / height0, (box[2] - ox) / width0, (box[3] - oy) / height0] as const);
    const thickness = boxThickness(width);
    drawBoxOutlines(image, fractions, BOX_COLOUR, thickness);
    const labelSize = Math.max(12, Math.round(width / 40));
    const labels = boxes.map(({ score }, i) => {
      const [fx0, fy0] = fractions[i] as readonly [number, number, number, number];
      // Above the box's top-left corner when there is room, else just inside it (clear of the outline).
      const [left, top] = [Math.round(fx0 * width), Math.round(fy0 * imageHeight)];
      const above = top - labelSize - 2 >= 0;
      const x = Math.min(Math.max(0, above ? left : left + thickness + 2), width - 3 * labelSize);
      const y = above ? top - labelSize - 2 : Math.min(imageHeight - labelSize - 2, top + thickness + 2);
      return `<rect x="${x}" y="${y}" width="${Math.round(2.6 * labelSize)}" height="${labelSize + 2}" fill="black"/><text x="${x + 2}" y="${y + labelSize - 1}" font-family="DejaVu Sans, sans-serif" font-size="${labelSize}" fill="magenta">${score.toFixed(2)}</text>`;
    });
    layers.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${imageHeight}">${labels.join('')}</svg>`), top: 0, left: 0 });
  }
  const { data, info } = await sharp({ create: { width, height: imageHeight + bannerHeight, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: resized.data, raw: { width, height: imageHeight, channels: resized.info.channels }, top: 0, left: 0 }, ...layers, { input: Buffer.from(svg), top: imageHeight, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: data };
}

const da = (d: Date): string => d.toISOString().slice(0, 10).replace(/-/g, '');
const tm = (d: Date): string => d.toISOString().slice(11, 19).replace(/:/g, '');

export async function buildSecondaryCapture(input: SecondaryCaptureInput): Promise<Buffer> {
  const { width, height, rgb } = await renderBannered(input.overlayPng, input.decision, input.fractureProbability, input.boxes);
  const boxed = (input.boxes?.boxes.length ?? 0) > 0;
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
    DerivationDescription: `Grad-CAM heatmap over the source radiograph${boxed ? ', predicted fracture boxes' : ''} with a burned-in AI result banner`,
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
