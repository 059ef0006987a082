// Whether a PNG/JPEG file is in colour: the mean absolute difference between its colour channels (0 for grey,
// and for DICOM, which hipfrac decodes to grey display values).
import sharp from 'sharp';

/** Mean |R − G| + |G − B| over the image, halved, in [0, 1]; 0 for grey or single-channel files. */
export async function colourfulness(file: string): Promise<number> {
  let decoded: { data: Buffer; info: { channels: number } };
  try {
    decoded = await sharp(file).resize(64, 64, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch {
    // Not an image sharp reads (DICOM): hipfrac's DICOM reader yields grey display values.
    return 0;
  }
  const { data, info } = decoded;
  if (info.channels < 3) return 0;
  let sum = 0;
  const n = data.length / info.channels;
  for (let i = 0; i < n; i++) {
    const r = data[i * info.channels] as number;
    const g = data[i * info.channels + 1] as number;
    const b = data[i * info.channels + 2] as number;
    sum += (Math.abs(r - g) + Math.abs(g - b)) / 2;
  }
  return sum / n / 255;
}
