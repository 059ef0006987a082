// The Image Pixel module of a small unsigned 12-bit MONOCHROME2 radiograph, as writeDicom takes it (natural keywords).
import type { NaturalDataset } from '../../src/dicom/index.js';

/** Rows, columns, 16 bits allocated with 12 stored, one sample, MONOCHROME2, and `pixels` as OW Pixel Data. */
export function greyImage12(columns: number, rows: number, pixels: Uint16Array): NaturalDataset {
  if (pixels.length !== columns * rows) throw new Error(`greyImage12: ${pixels.length} pixels for ${columns} × ${rows}`);
  return {
    Rows: rows,
    Columns: columns,
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OW' },
  };
}
