// The node's command-set shortcuts give what dcmjs-dimse's general path gives: response PDUs byte for byte, and
// received commands read into the same objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dimse from 'dcmjs-dimse';
import { readCommandSet, responseCommandPdu } from '../../src/serve/receive/commandSet.js';
import { installDimseSpeedups, readElementsGeneral } from '../../src/serve/receive/dimseSpeedups.js';

const { Dataset, Scp, requests, responses } = dimse;
dimse.log.setLevel('silent');

interface Command {
  getDataset(): unknown;
  getCommandDataset(): { getElements(): Record<string, unknown> };
}

/** The PDUs dcmjs-dimse's own `_sendPDataTF` writes for `command`, captured from a stand-in socket. */
function generalPdu(command: Command, contextId: number): Buffer {
  const written: Buffer[] = [];
  const send = (Scp.prototype as unknown as { _sendPDataTF: (this: unknown, c: Command, id: number, max: number) => void })._sendPDataTF;
  assert.equal(typeof send, 'function', "dcmjs-dimse's network layer still sends through _sendPDataTF");
  send.call({ socket: { write: (b: Buffer) => written.push(Buffer.from(b)) }, statistics: { addBytesSent: () => undefined }, logId: 'test' }, command, contextId, 16384);
  return Buffer.concat(written);
}

function storeResponse(sopClass: string, sopInstance: string, messageId: number, status: number, comment?: string): Command {
  const request = new requests.CStoreRequest(new Dataset({ SOPClassUID: sopClass, SOPInstanceUID: sopInstance }, '1.2.840.10008.1.2.1'));
  request.setMessageId(messageId);
  const response = responses.CStoreResponse.fromRequest(request);
  response.setStatus(status);
  if (comment !== undefined) response.setErrorComment(comment);
  return response as unknown as Command;
}

test('C-STORE responses: same bytes as dcmjs-dimse for each status, odd and even UIDs, with and without an error comment', () => {
  const cases: [string, string, number, number, string?][] = [
    ['1.2.840.10008.5.1.4.1.1.1.1', '2.25.1234567890123456789', 1, 0x0000],
    ['1.2.840.10008.5.1.4.1.1.1', '2.25.12345678901234567890', 65535, 0xa700],
    ['1.2.840.10008.5.1.4.1.1.7', '1.2.3', 7, 0xc000, 'cannot read'],
    ['1.2.840.10008.5.1.4.1.1.88.33', '1.2.34', 300, 0x0110, 'odd'],
  ];
  for (const [sopClass, sopInstance, messageId, status, comment] of cases) {
    const command = storeResponse(sopClass, sopInstance, messageId, status, comment);
    for (const contextId of [1, 3, 255]) {
      const ours = responseCommandPdu(contextId, command.getCommandDataset().getElements());
      assert.ok(ours !== undefined, `${sopInstance}: encoded in place`);
      assert.deepEqual(ours, generalPdu(command, contextId), `${sopInstance} status ${status.toString(16)} pc ${contextId}`);
    }
  }
});

test('C-ECHO response: same bytes as dcmjs-dimse', () => {
  const request = new requests.CEchoRequest();
  request.setMessageId(42);
  const response = responses.CEchoResponse.fromRequest(request);
  response.setStatus(0);
  const command = response as unknown as Command;
  assert.deepEqual(responseCommandPdu(1, command.getCommandDataset().getElements()), generalPdu(command, 1));
});

test('anything else is left to the general path: a data set, an element outside the table, a value of the wrong kind', () => {
  const elements = storeResponse('1.2.840.10008.5.1.4.1.1.7', '1.2.3', 1, 0).getCommandDataset().getElements();
  assert.equal(responseCommandPdu(1, { ...elements, CommandDataSetType: 0x0000 }), undefined);
  assert.equal(responseCommandPdu(1, { ...elements, OffendingElement: [0x00100010] }), undefined);
  assert.equal(responseCommandPdu(1, { ...elements, Status: 0x10000 }), undefined);
  assert.equal(responseCommandPdu(1, { ...elements, AffectedSOPInstanceUID: 12 }), undefined);
});

/** A command set from (element, value bytes) pairs, Implicit VR Little Endian. */
function commandBytes(elements: readonly (readonly [number, Buffer])[], group = 0x0000): Buffer {
  return Buffer.concat(elements.flatMap(([element, value]) => {
    const header = Buffer.alloc(8);
    header.writeUInt16LE(group, 0);
    header.writeUInt16LE(element, 2);
    header.writeUInt32LE(value.length, 4);
    return [header, value];
  }));
}
const text = (s: string): Buffer => Buffer.from(s, 'latin1');
const us = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
};
const general = (bytes: Buffer): Record<string, unknown> => readElementsGeneral.call(new Dataset({}), bytes, '1.2.840.10008.1.2', { ignoreErrors: true });

test('received commands: read into the same elements as dcmjs reads them', () => {
  const store = new requests.CStoreRequest(new Dataset({ SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1', SOPInstanceUID: '2.25.123456789' }, '1.2.840.10008.1.2.1'));
  store.setMessageId(513);
  const echo = new requests.CEchoRequest();
  echo.setMessageId(2);
  const samples: [string, Buffer][] = [
    ['C-STORE-RQ', (store.getCommandDataset() as unknown as { getDenaturalizedCommandDataset(): Buffer }).getDenaturalizedCommandDataset()],
    ['C-ECHO-RQ', (echo.getCommandDataset() as unknown as { getDenaturalizedCommandDataset(): Buffer }).getDenaturalizedCommandDataset()],
    ['padded strings', commandBytes([[0x0002, text('1.2.3\0')], [0x0100, us(1)], [0x0600, text(' AB ')], [0x0902, text(' x y ')], [0x1000, text('1.2 ')], [0x1030, text('ABC ')], [0x1031, us(9)]])],
    ['a response', commandBytes([[0x0002, text('1.2')], [0x0100, us(0x8001)], [0x0120, us(4)], [0x0800, us(0x0101)], [0x0900, us(0xa700)], [0x0902, text('no room')]])],
  ];
  for (const [name, bytes] of samples) {
    const ours = readCommandSet(bytes);
    assert.ok(ours !== undefined, `${name}: read here`);
    assert.deepEqual(ours, general(bytes), name);
  }
});

test('commands outside the table are left to dcmjs: another group, an unknown element, a multi-valued string, a wrong length, a cut buffer', () => {
  const ok = commandBytes([[0x0002, text('1.2')], [0x0100, us(1)]]);
  assert.ok(readCommandSet(ok) !== undefined);
  assert.equal(readCommandSet(commandBytes([[0x0002, text('1.2')]], 0x0008)), undefined);
  assert.equal(readCommandSet(commandBytes([[0x0002, text('1.2')], [0x0901, Buffer.alloc(4)]])), undefined);
  assert.equal(readCommandSet(commandBytes([[0x0002, text('1.2')], [0x0600, text('A\\B ')]])), undefined);
  assert.equal(readCommandSet(commandBytes([[0x0100, Buffer.alloc(4)]])), undefined);
  assert.equal(readCommandSet(commandBytes([[0x0100, us(1)], [0x0002, text('1.2')]])), undefined, 'out of tag order');
  assert.equal(readCommandSet(ok.subarray(0, ok.length - 3)), undefined);
  assert.equal(readCommandSet(commandBytes([[0x0002, text('1.2\u00e9')]])), undefined);
});

test('installed: dcmjs-dimse reads commands through the shortcut with the same result, and falls back for the rest', () => {
  installDimseSpeedups();
  const bytes = commandBytes([[0x0002, text('1.2.840.10008.1.1\0')], [0x0100, us(0x0030)], [0x0110, us(5)], [0x0800, us(0x0101)]]);
  assert.deepEqual(new Dataset(bytes).getElements(), general(bytes));
  const other = commandBytes([[0x0002, text('1.2')], [0x0901, Buffer.from([0x10, 0x00, 0x10, 0x00])]]);
  assert.equal(readCommandSet(other), undefined);
  assert.deepEqual(new Dataset(other).getElements(), general(other));
});
