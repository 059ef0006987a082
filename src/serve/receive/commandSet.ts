// DIMSE command sets (group 0000, Implicit VR Little Endian, PS3.7 §6.3.1 and §E.1) read and written directly, for
// the commands the node exchanges on every instance: the C-STORE / C-ECHO request it reads and the response without
// data set it writes. dcmjs-dimse does both through dcmjs's general reader and writer (a stream object per element,
// two 256 KiB buffers per written command) and formats a log line even when logging is off: a fraction of a
// millisecond per received instance, on the event loop that receives. Anything outside the table below is left to
// the general path, and the results are the same objects and bytes (test/serve/commandSet.test.ts).

type CommandVr = 'UI' | 'US' | 'UL' | 'AE' | 'LO';

/** The command elements handled here: keyword (dcmjs's naturalised name) → element number in group 0000 and VR. */
const COMMAND_ELEMENTS: Readonly<Record<string, { readonly element: number; readonly vr: CommandVr }>> = {
  CommandGroupLength: { element: 0x0000, vr: 'UL' },
  AffectedSOPClassUID: { element: 0x0002, vr: 'UI' },
  CommandField: { element: 0x0100, vr: 'US' },
  MessageID: { element: 0x0110, vr: 'US' },
  MessageIDBeingRespondedTo: { element: 0x0120, vr: 'US' },
  MoveDestination: { element: 0x0600, vr: 'AE' },
  Priority: { element: 0x0700, vr: 'US' },
  CommandDataSetType: { element: 0x0800, vr: 'US' },
  Status: { element: 0x0900, vr: 'US' },
  ErrorComment: { element: 0x0902, vr: 'LO' },
  AffectedSOPInstanceUID: { element: 0x1000, vr: 'UI' },
  MoveOriginatorApplicationEntityTitle: { element: 0x1030, vr: 'AE' },
  MoveOriginatorMessageID: { element: 0x1031, vr: 'US' },
};
const BY_ELEMENT = new Map(Object.entries(COMMAND_ELEMENTS).map(([keyword, spec]) => [spec.element, { keyword, vr: spec.vr }]));

/** PS3.7 §E.1: a data set is absent when Command Data Set Type is 0101H. */
const NO_DATA_SET = 0x0101;

interface Element {
  readonly element: number;
  readonly value: Buffer;
}

function valueBytes(vr: CommandVr, value: unknown): Buffer | undefined {
  if (vr === 'UL') {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) return undefined;
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(value, 0);
    return b;
  }
  if (vr === 'US') {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) return undefined;
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16LE(value, 0);
    return b;
  }
  if (typeof value !== 'string') return undefined;
  const text = Buffer.from(value, 'latin1');
  if (text.length % 2 === 0) return text;
  // Even length: UIDs are padded with a NUL, text with a space (PS3.5 §6.2).
  return Buffer.concat([text, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
}

/**
 * The P-DATA-TF PDU of a response command on presentation context `contextId`, from the command's elements
 * (dcmjs naturalised keywords; undefined values are left out). Undefined when the command carries a data set or an
 * element outside the table, which the caller then sends the general way.
 */
export function responseCommandPdu(contextId: number, elements: Readonly<Record<string, unknown>>): Buffer | undefined {
  if (elements.CommandDataSetType !== NO_DATA_SET) return undefined;
  const encoded: Element[] = [];
  for (const [keyword, value] of Object.entries(elements)) {
    if (value === undefined) continue;
    const spec = COMMAND_ELEMENTS[keyword];
    // The group length is computed here, never taken from the elements.
    if (spec === undefined || spec.element === 0x0000) return undefined;
    const bytes = valueBytes(spec.vr, value);
    if (bytes === undefined) return undefined;
    encoded.push({ element: spec.element, value: bytes });
  }
  encoded.sort((a, b) => a.element - b.element);
  const groupLength = encoded.reduce((n, e) => n + 8 + e.value.length, 0);
  const commandLength = 12 + groupLength;
  // PDU header (6) + PDV item length (4) + context id and message control header (2) + the command.
  const pdu = Buffer.allocUnsafe(12 + commandLength);
  pdu.writeUInt8(0x04, 0);
  pdu.writeUInt8(0, 1);
  pdu.writeUInt32BE(6 + commandLength, 2);
  pdu.writeUInt32BE(2 + commandLength, 6);
  pdu.writeUInt8(contextId, 10);
  pdu.writeUInt8(0x03, 11);
  let at = 12;
  const tag = (element: number, length: number): void => {
    pdu.writeUInt16LE(0x0000, at);
    pdu.writeUInt16LE(element, at + 2);
    pdu.writeUInt32LE(length, at + 4);
    at += 8;
  };
  tag(0x0000, 4);
  pdu.writeUInt32LE(groupLength, at);
  at += 4;
  for (const e of encoded) {
    tag(e.element, e.value.length);
    e.value.copy(pdu, at);
    at += e.value.length;
  }
  return pdu;
}

/**
 * The elements of a command set as dcmjs naturalises them (`_vrMap` first, then keywords in tag order; strings
 * without their padding), or undefined for anything outside the table: another group or element, a value of an
 * unexpected length, a multi-valued or non-ASCII string, a truncated buffer.
 */
export function readCommandSet(bytes: Buffer): Record<string, unknown> | undefined {
  const elements: Record<string, unknown> = { _vrMap: {} };
  let at = 0;
  let last = -1;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) return undefined;
    const group = bytes.readUInt16LE(at);
    const element = bytes.readUInt16LE(at + 2);
    const length = bytes.readUInt32LE(at + 4);
    at += 8;
    const spec = BY_ELEMENT.get(element);
    if (group !== 0x0000 || spec === undefined || element <= last || at + length > bytes.length) return undefined;
    last = element;
    const value = bytes.subarray(at, at + length);
    at += length;
    if (spec.vr === 'US') {
      if (length !== 2) return undefined;
      elements[spec.keyword] = value.readUInt16LE(0);
    } else if (spec.vr === 'UL') {
      if (length !== 4) return undefined;
      elements[spec.keyword] = value.readUInt32LE(0);
    } else {
      for (const byte of value) if (byte > 0x7e || byte === 0x5c || (byte < 0x20 && byte !== 0)) return undefined;
      const text = value.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
      if (text.includes('\0')) return undefined;
      elements[spec.keyword] = text;
    }
  }
  return elements;
}
