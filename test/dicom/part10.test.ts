// splitPart10: the encoded data set after a Part 10 meta header, byte for byte, and the meta header's facts — the
// inverse of part10FromEncodedDataset; bytes that are not Part 10 are refused naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DicomError, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, part10FromEncodedDataset, splitPart10, writeDicom } from '../../src/dicom/index.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';

test('splitPart10 returns the data set bytes and the meta UIDs that part10FromEncodedDataset wrapped', () => {
  const dataset = Uint8Array.from({ length: 301 }, (_, i) => (i * 7) % 256);
  const meta = { sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33', sopInstanceUid: '2.25.1234567', transferSyntaxUid: EXPLICIT_LE, sourceAeTitle: 'MODALITY' };
  const split = splitPart10(part10FromEncodedDataset(dataset, meta), 'x.dcm');
  assert.deepEqual(split.meta, { sopClassUid: meta.sopClassUid, sopInstanceUid: meta.sopInstanceUid, transferSyntaxUid: EXPLICIT_LE });
  assert.deepEqual([...split.dataset], [...dataset]);
  // Given as the pieces it arrived in (PDV fragments), the same file.
  assert.deepEqual(part10FromEncodedDataset([dataset.subarray(0, 100), dataset.subarray(100, 101), dataset.subarray(101)], meta), part10FromEncodedDataset(dataset, meta));
});

test('splitPart10 on a written object: its data set starts at the first non-meta element', () => {
  const bytes = writeDicom({ SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', SOPInstanceUID: '2.25.42', PatientID: 'P1', Modality: 'OT' }, { transferSyntaxUid: EXPLICIT_LE });
  const { meta, dataset } = splitPart10(bytes, 'written.dcm');
  assert.equal(meta.sopInstanceUid, '2.25.42');
  // (0008,0016) SOP Class UID is the first element of this data set: group 0008, little endian.
  assert.deepEqual([...dataset.subarray(0, 4)], [0x08, 0x00, 0x16, 0x00]);
  assert.equal(Buffer.from(part10FromEncodedDataset(dataset, meta)).subarray(-dataset.length).equals(Buffer.from(dataset)), true);
});

test('bytes that are not Part 10 are refused with a coded error naming the file', () => {
  assert.throws(() => splitPart10(new Uint8Array(200), 'blank.dcm'), (e: unknown) => e instanceof DicomError && e.code === 'HF_DICOM_NOT_DICOM' && e.message.includes('blank.dcm'));
  const truncated = new Uint8Array(140);
  truncated.set([0x44, 0x49, 0x43, 0x4d], 128);
  truncated.set([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00], 132);
  assert.throws(() => splitPart10(truncated, 'cut.dcm'), (e: unknown) => e instanceof DicomError && e.message.includes('cut.dcm'));
});

test('the file meta group part10FromEncodedDataset writes is the one dcmjs writes for the same values', async () => {
  const dcmjs = (await import('dcmjs')).default;
  const cases = [
    { sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: '2.25.1', transferSyntaxUid: EXPLICIT_LE, sourceAeTitle: 'CR01' },
    { sopClassUid: '1.2.840.10008.5.1.4.1.1.7', sopInstanceUid: '1.2.3.44', transferSyntaxUid: '1.2.840.10008.1.2.5', sourceAeTitle: 'MODALITY' },
    { sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33', sopInstanceUid: '2.25.123456789012345678901234567890', transferSyntaxUid: '1.2.840.10008.1.2' },
  ];
  for (const meta of cases) {
    const { DicomDict, DicomMetaDictionary } = dcmjs.data;
    const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: meta.sopClassUid,
      MediaStorageSOPInstanceUID: meta.sopInstanceUid,
      TransferSyntaxUID: meta.transferSyntaxUid,
      ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
      ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
      ...(meta.sourceAeTitle === undefined ? {} : { SourceApplicationEntityTitle: meta.sourceAeTitle }),
    }));
    dict.dict = {};
    const expected = Buffer.from(dict.write());
    const got = part10FromEncodedDataset(new Uint8Array(0), meta);
    assert.equal(got.toString('hex'), expected.toString('hex'), `meta group for ${meta.sopInstanceUid}`);
  }
});
