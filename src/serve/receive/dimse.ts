// The DICOM side of the node: a C-ECHO and C-STORE SCP over dcmjs-dimse on our own TCP listener (so it binds to
// the configured host), with calling-AE allow-list, an association limit (busy reject) and a per-object size limit.
import net from 'node:net';
import { Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import type { Logger } from 'pino';
import { part10FromEncodedDataset, TRANSFER_SYNTAXES } from '../../dicom/index.js';
import { cStoreStatusOf, type Ingest } from './ingest.js';
import { responseCommandPdu } from './commandSet.js';
import { installDimseSpeedups } from './dimseSpeedups.js';

const { Scp, Dataset, constants, responses } = dimse;
const { PresentationContextResult, RejectResult, RejectSource, RejectReason, Status } = constants;

type DimseAssociation = InstanceType<typeof dimse.association.Association>;
type DimsePresentationContext = InstanceType<typeof dimse.association.PresentationContext>;
type DimseCStoreRequest = InstanceType<typeof dimse.requests.CStoreRequest>;
type DimseCEchoRequest = InstanceType<typeof dimse.requests.CEchoRequest>;
type DimseCStoreResponse = InstanceType<typeof dimse.responses.CStoreResponse>;
type DimseCEchoResponse = InstanceType<typeof dimse.responses.CEchoResponse>;
type DimseDataset = InstanceType<typeof dimse.Dataset>;

const VERIFICATION = '1.2.840.10008.1.1';
/** Every storage SOP class lives below this root (images, SR, presentation states …): accepted, images processed. */
const STORAGE_ROOT = '1.2.840.10008.5.1.4.1.1.';
/** What the node accepts on the wire: src/dicom's syntaxes except deflate and big endian (retired; dcmjs-dimse does not inflate). */
export const ACCEPTED_TRANSFER_SYNTAXES: readonly string[] = TRANSFER_SYNTAXES.filter((t) => !t.deflated && t.littleEndian).map((t) => t.uid);

export interface DicomNodeOptions {
  readonly aeTitle: string;
  readonly host: string;
  readonly port: number;
  /** Calling AE titles allowed to associate; empty: any. */
  readonly allowedCallingAes: readonly string[];
  /** Peer addresses allowed; empty: any. */
  readonly allowedHosts: readonly string[];
  /** Simultaneous associations; one more is rejected as busy (transient, local limit exceeded). */
  readonly maxAssociations: number;
  /** Largest object in bytes: a larger one is discarded while it streams in and answered with Out of Resources. */
  readonly maxObjectBytes: number;
}

/** Collects a C-STORE data set up to a limit; beyond it keeps counting but drops the bytes. */
class BoundedSink extends Writable {
  readonly chunks: Buffer[] = [];
  received = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.received += chunk.length;
    if (this.received <= this.limit) this.chunks.push(chunk);
    else this.chunks.length = 0;
    done();
  }
  get overLimit(): boolean {
    return this.received > this.limit;
  }
}

/** What dcmjs-dimse's network layer sends a DIMSE message with (not in its type declarations). */
interface PduSender {
  _sendPDataTF(command: DimseCommand, contextId: number, maxPduLength: number): void;
}
interface DimseCommand {
  getDataset(): unknown;
  getCommandDataset(): { getElements(): Record<string, unknown> };
}
const sendGeneral = (Scp.prototype as unknown as PduSender)._sendPDataTF;

installDimseSpeedups();

interface PendingStore {
  readonly sink: BoundedSink;
  readonly transferSyntaxUid: string;
}

export class DicomNode {
  readonly #server: net.Server;
  /** Open associations (shared with the SCP class, which counts them). */
  readonly #associations = { active: 0 };
  #port = 0;
  readonly #sockets = new Set<net.Socket>();

  constructor(
    readonly options: DicomNodeOptions,
    ingest: Ingest,
    private readonly logger: Logger,
  ) {
    const counter = this.#associations;
    const ingestion = ingest;
    const log = logger;
    // dcmjs-dimse logs through loglevel to the console; the node logs for itself.
    dimse.log.setLevel('silent');
    const allowedAes = new Set(options.allowedCallingAes.map((a) => a.trim()));
    const allowedHosts = new Set(options.allowedHosts);

    class NodeScp extends Scp {
      association: DimseAssociation | undefined;
      readonly peer: string;
      readonly pending = new WeakMap<object, PendingStore>();
      counted = false;

      constructor(socket: net.Socket, opts: ConstructorParameters<typeof Scp>[1]) {
        super(socket, opts);
        this.peer = socket.remoteAddress ?? '';
      }

      override associationRequested(association: DimseAssociation): void {
        this.association = association;
        const calling = association.getCallingAeTitle().trim();
        const called = association.getCalledAeTitle().trim();
        if (allowedAes.size > 0 && !allowedAes.has(calling)) {
          log.warn({ callingAe: calling }, 'association rejected: calling AE not allowed');
          this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CallingAeNotRecognized);
          return;
        }
        if (called !== options.aeTitle) {
          log.warn({ callingAe: calling, calledAe: called }, 'association rejected: called AE is not this node');
          this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CalledAeNotRecognized);
          return;
        }
        if (allowedHosts.size > 0 && !allowedHosts.has(this.peer.replace(/^::ffff:/, ''))) {
          log.warn({ callingAe: calling }, 'association rejected: host not allowed');
          this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.NoReasonGiven);
          return;
        }
        if (counter.active >= options.maxAssociations) {
          log.warn({ callingAe: calling, active: counter.active }, 'association rejected: busy');
          this.sendAssociationReject(RejectResult.Transient, RejectSource.ServiceProviderPresentation, RejectReason.LocalLimitExceeded);
          return;
        }
        counter.active++;
        this.counted = true;
        for (const { id } of association.getPresentationContexts()) {
          const context = association.getPresentationContext(id);
          const abstract = context.getAbstractSyntaxUid();
          if (abstract !== VERIFICATION && !abstract.startsWith(STORAGE_ROOT)) {
            context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
            continue;
          }
          const proposed = context.getTransferSyntaxUids();
          const chosen = proposed.find((uid) => ACCEPTED_TRANSFER_SYNTAXES.includes(uid));
          if (chosen === undefined) context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
          else context.setResult(PresentationContextResult.Accept, chosen);
        }
        log.info({ callingAe: calling }, 'association accepted');
        this.sendAssociationAccept();
      }

      override associationReleaseRequested(): void {
        this.sendAssociationReleaseResponse();
      }

      override cEchoRequest(request: DimseCEchoRequest, callback: (response: DimseCEchoResponse) => void): void {
        const response = responses.CEchoResponse.fromRequest(request);
        response.setStatus(Status.Success);
        callback(response);
      }

      override createStoreWritableStream(context: DimsePresentationContext, request: DimseCStoreRequest): Writable {
        const sink = new BoundedSink(options.maxObjectBytes);
        this.pending.set(request, { sink, transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '' });
        return sink;
      }

      override createDatasetFromStoreWritableStream(_writable: Writable, context: DimsePresentationContext, callback: (dataset: DimseDataset) => void): void {
        // The node parses the bytes itself (readDicomIdentity) and keeps them as received: hand dcmjs-dimse an empty data set.
        callback(new Dataset({}, context.getAcceptedTransferSyntaxUid()));
      }

      override cStoreRequest(request: DimseCStoreRequest, callback: (response: DimseCStoreResponse) => void): void {
        const pending = this.pending.get(request);
        const calling = this.association?.getCallingAeTitle().trim() ?? '';
        const source = `ae:${calling}`;
        const respond = (status: number): void => {
          const response = responses.CStoreResponse.fromRequest(request);
          response.setStatus(status);
          callback(response);
        };
        if (pending === undefined) {
          respond(0x0110);
          return;
        }
        this.pending.delete(request);
        if (pending.sink.overLimit) {
          respond(cStoreStatusOf(ingestion.tooLarge(pending.sink.received, source)));
          return;
        }
        const part10 = part10FromEncodedDataset(pending.sink.chunks, {
          sopClassUid: request.getAffectedSopClassUid(),
          sopInstanceUid: request.getAffectedSopInstanceUid(),
          transferSyntaxUid: pending.transferSyntaxUid,
          sourceAeTitle: calling,
        });
        ingestion.accept(part10, source).then(
          (outcome) => respond(cStoreStatusOf(outcome)),
          () => respond(0x0110),
        );
      }

      /** Responses without data set go out as one PDU encoded in place (commandSet.ts); anything else the general way. */
      _sendPDataTF(command: DimseCommand, contextId: number, maxPduLength: number): void {
        const pdu = command.getDataset() === undefined ? responseCommandPdu(contextId, command.getCommandDataset().getElements()) : undefined;
        if (pdu === undefined) {
          sendGeneral.call(this, command, contextId, maxPduLength);
          return;
        }
        const self = this as unknown as { socket: net.Socket; statistics: { addBytesSent(n: number): void } };
        self.socket.write(pdu);
        self.statistics.addBytesSent(pdu.length);
      }

      override abort(): void {
        // The peer aborted; the socket closes after this and releases the slot.
      }
    }

    this.#server = net.createServer((socket) => {
      this.#sockets.add(socket);
      // Each C-STORE response goes out at once (no Nagle delay waiting for the peer's ACK).
      socket.setNoDelay(true);
      const scp = new NodeScp(socket, { associationTimeout: 60_000, pduTimeout: 60_000 }) as InstanceType<typeof NodeScp> & { connected: boolean };
      scp.connected = true;
      scp.on('close', () => {
        if (scp.counted) counter.active--;
        scp.counted = false;
      });
      scp.on('networkError', () => socket.destroy());
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.options.port, this.options.host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address();
        this.#port = typeof address === 'object' && address !== null ? address.port : this.options.port;
        this.logger.info({ aeTitle: this.options.aeTitle, port: this.#port }, 'DICOM node listening');
        resolve(this.#port);
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  get activeAssociations(): number {
    return this.#associations.active;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.#sockets) s.destroy();
      this.#server.close(() => resolve());
    });
  }
}
