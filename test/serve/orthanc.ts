// Orthanc as the test PACS: started with its own config (loopback ports, temp storage, HTTP for this machine only),
// polled on REST /system until up (bounded), stopped on every path by the caller's t.after(stop).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/ports.js';
import path from 'node:path';

export interface Orthanc {
  readonly httpPort: number;
  readonly dicomPort: number;
  readonly aeTitle: string;
  rest<T = unknown>(method: string, url: string, body?: BodyInit, contentType?: string): Promise<T>;
  restBytes(url: string): Promise<Buffer>;
  stop(): Promise<void>;
}

/** Starts Orthanc in `dir` with `modalities` (name → [AE, host, port]) it may send to and accept from. */
export async function startOrthanc(dir: string, modalities: Record<string, [string, string, number]>): Promise<Orthanc> {
  const httpPort = await freePort();
  const dicomPort = await freePort();
  mkdirSync(dir, { recursive: true });
  const config = {
    Name: 'hipfrac-test-pacs',
    StorageDirectory: path.join(dir, 'storage'),
    IndexDirectory: path.join(dir, 'index'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: 'ORTHANC',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomModalities: modalities,
    DicomAlwaysAllowStore: false,
    DicomCheckModalityHost: true,
    OverwriteInstances: false,
    StableAge: 1,
    Plugins: [],
  };
  const file = path.join(dir, 'orthanc.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child: ChildProcess = spawn('Orthanc', [file], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
  const rest = async <T>(method: string, url: string, body?: BodyInit, contentType = 'application/json'): Promise<T> => {
    const r = await fetch(`${base}${url}`, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': contentType } }) });
    const text = await r.text();
    if (!r.ok) throw new Error(`Orthanc ${method} ${url}: ${r.status} ${text.slice(0, 300)}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await rest('GET', '/system');
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw new Error('Orthanc did not come up within 30 s');
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    httpPort,
    dicomPort,
    aeTitle: 'ORTHANC',
    rest,
    restBytes: async (url) => Buffer.from(await (await fetch(`${base}${url}`)).arrayBuffer()),
    stop,
  };
}

export interface PacsSeries {
  readonly ID: string;
  readonly MainDicomTags: { readonly Modality?: string; readonly SeriesInstanceUID?: string };
  readonly Instances: readonly string[];
}

/** Orthanc's series of the study with this Study Instance UID, or [] when it holds none. */
export async function seriesOfStudy(orthanc: Orthanc, studyInstanceUid: string): Promise<PacsSeries[]> {
  const ids = await orthanc.rest<string[]>('POST', '/tools/lookup', studyInstanceUid, 'text/plain');
  const study = (ids as unknown as { ID: string; Type: string }[]).find((x) => x.Type === 'Study');
  if (study === undefined) return [];
  return orthanc.rest<PacsSeries[]>('GET', `/studies/${study.ID}/series`);
}
