// A DIMSE response without a data set (C-STORE-RSP, C-ECHO-RSP), written straight into its P-DATA-TF PDU.
// dcmjs-dimse builds the same bytes through dcmjs's general writer (two 256 KiB buffers per command) and formats a
// log line even when logging is off: a fraction of a millisecond per received instance, on the event loop that
// receives. The command set is Implicit VR Little Endian (PS3.7 §6.3.1), its elements in tag order after the
// group length; the PDV carries it whole with the message control header "command, last fragment" (PS3.8 §9.3.5).

/** The command elements a response without data set can carry here: keyword → element number in group 0000 and VR. */
const RESPONSE_ELEMENTS: Readonly<Record<string, { readonly element: number; readonly vr: 'UI' | 'US' | 'LO' }>> = {
  AffectedSOPClassUID: { element: 0x0002, vr: 'UI' },
  CommandField: { element: 0x0100, vr: 'US' },
  MessageIDBeingRespondedTo: { element: 0x0120, vr: 'US' },
  CommandDataSetType: { element: 0x0800, vr: 'US' },
  Status: { element: 0x0900, vr: 'US' },
  ErrorComment: { element: 0x0902, vr: 'LO' },
  AffectedSOPInstanceUID: { element: 0x1000, vr: 'UI' },
};

/** PS3.7 §E.1: a data set is absent when Command Data Set Type is 0101H. */
const NO_DATA_SET = 0x0101;

interface Element {
  readonly element: number;
  readonly value: Buffer;
}

function valueBytes(vr: 'UI' | 'US' | 'LO', value: unknown): Buffer | undefined {
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
    const spec = RESPONSE_ELEMENTS[keyword];
    if (spec === undefined) return undefined;
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
