// The node's in-place response PDUs are byte for byte what dcmjs-dimse's general path sends for the same response.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dimse from 'dcmjs-dimse';
import { responseCommandPdu } from '../../src/serve/receive/responsePdu.js';

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
