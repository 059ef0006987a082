// Turns a decided study into its DICOM results and queues their delivery: the SR (always) and a Secondary
// Capture per image sent to review (or per image with a heatmap, with heatmaps: all). UIDs derive from the study,
// the image and the study's revision, so a result rebuilt after a crash is the same object, not a second one.
import path from 'node:path';
import type { Logger } from 'pino';
import { pseudonymousUid, type SrImageResult } from '../../dicom/index.js';
import type { ServingModel } from '../infer/servingModel.js';
import type { Metrics } from '../metrics.js';
import type { BlobStore, NewDelivery, SqliteStore, StudyRecord } from '../store/index.js';
import { decideStudy, FINDING_TEXT } from './decideStudy.js';
import { buildSecondaryCapture } from './secondaryCapture.js';
import { SrWriter } from './srWriter.js';

/** Fixed key for result UIDs: deterministic per study/image/revision, not reversible to the source UIDs. */
const RESULT_UID_KEY = new TextEncoder().encode('hipfrac-serve-result-uids-v1');
const resultUid = (seed: string): string => pseudonymousUid(RESULT_UID_KEY, seed);

export const SR_SERIES_NUMBER = 9901;
export const SC_SERIES_NUMBER = 9902;

function operatingPointText(model: ServingModel): string {
  const p = model.policy;
  if (p.conformal !== undefined) return `${p.method}: conformal sets at ${(100 * (1 - p.conformal.alpha)).toFixed(1)} % coverage (n=${p.conformal.n})`;
  const bound = p.errorUpperBound === null ? '' : `, error among auto-reported <= ${(100 * p.errorUpperBound).toFixed(2)} %`;
  return `${p.method}: confidence cut-off ${p.cutoff === null ? 'n/a' : `${(100 * p.cutoff).toFixed(2)} %`}${bound}, temperature ${p.temperature.toFixed(3)}${p.bias === undefined ? '' : `, bias ${p.bias.toFixed(3)}`}`;
}

export class StudyResults {
  /** SRs and source headers are made on a worker thread: the event loop keeps receiving meanwhile. */
  readonly #writer = new SrWriter();

  constructor(
    private readonly store: SqliteStore,
    private readonly blobs: BlobStore,
    private readonly model: ServingModel,
    private readonly destinations: readonly string[],
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  close(): Promise<void> {
    return this.#writer.close();
  }

  /** Decides one study, writes its SR and Secondary Captures, records the decision and the deliveries. */
  async produce(study: StudyRecord): Promise<void> {
    const results = this.store.resultsOfStudy(study.studyInstanceUid);
    const instances = new Map(this.store.instancesOfStudy(study.studyInstanceUid).map((i) => [i.sopInstanceUid, i]));
    const outcome = decideStudy(results, this.model.card.classes[1] ?? 'fracture');
    const deliveries: NewDelivery[] = [];
    if (results.length > 0) {
      const first = instances.get(results[0]?.sopInstanceUid as string);
      const created = new Date();
      const rev = `r${study.revision}`;
      const images: SrImageResult[] = results.map((r) => {
        const i = instances.get(r.sopInstanceUid);
        return { sopClassUid: i?.sopClassUid ?? '', sopInstanceUid: r.sopInstanceUid, seriesInstanceUid: i?.seriesInstanceUid ?? '', fractureProbability: r.fractureProbability, decision: r.decision, reason: r.reason, ...(r.boxes === null ? {} : { boxes: r.boxes }) };
      });
      const srUid = resultUid(`${study.studyInstanceUid}/sr/${rev}`);
      const sr = await this.#writer.sr(this.blobs.absolute(first?.file as string), {
        sopInstanceUid: srUid,
        seriesInstanceUid: resultUid(`${study.studyInstanceUid}/sr-series/${rev}`),
        seriesNumber: SR_SERIES_NUMBER,
        instanceNumber: study.revision + 1,
        finding: outcome.finding,
        decision: outcome.decision,
        reason: outcome.reason,
        operatingPoint: operatingPointText(this.model),
        model: { name: this.model.name, version: this.model.version, dataFingerprint: this.model.dataFingerprint },
        images,
        created,
      });
      const srFile = await this.blobs.write(path.join('results', study.studyKey, `sr-${rev}.dcm`), sr);
      for (const d of this.destinations) deliveries.push({ studyInstanceUid: study.studyInstanceUid, kind: 'sr', sopInstanceUid: srUid, destination: d, file: srFile });
      let n = 0;
      for (const r of results) {
        if (r.heatmap === '' || r.fractureProbability === null) continue;
        const i = instances.get(r.sopInstanceUid);
        if (i === undefined) continue;
        const imageSource = await this.#writer.header(this.blobs.absolute(i.file));
        const scUid = resultUid(`${r.sopInstanceUid}/sc/${rev}`);
        const sc = await buildSecondaryCapture({
          overlayPng: await this.blobs.read(r.heatmap),
          source: imageSource,
          sopInstanceUid: scUid,
          seriesInstanceUid: resultUid(`${study.studyInstanceUid}/sc-series/${rev}`),
          seriesNumber: SC_SERIES_NUMBER,
          instanceNumber: ++n,
          decision: r.decision === 'radiologist-review' ? FINDING_TEXT['radiologist-review'] : r.predicted === (this.model.card.classes[1] ?? 'fracture') ? FINDING_TEXT['fracture-suspected'] : FINDING_TEXT['no-fracture'],
          fractureProbability: r.fractureProbability,
          ...(r.boxes === null ? {} : { boxes: { boxes: r.boxes, regionOrigin: r.regionOrigin } }),
          created,
        });
        const scFile = await this.blobs.write(path.join('results', study.studyKey, `sc-${scUid}.dcm`), sc);
        for (const d of this.destinations) deliveries.push({ studyInstanceUid: study.studyInstanceUid, kind: 'sc', sopInstanceUid: scUid, destination: d, file: scFile });
      }
    }
    this.store.relaxedTransaction(() => {
      this.store.recordStudyDecision(study.studyInstanceUid, { decision: outcome.decision, reason: outcome.reason, fractureProbability: outcome.fractureProbability }, deliveries);
      this.store.audit('system', 'decide', study.studyKey, outcome.decision);
    });
    this.metrics.inc('hipfrac_studies_decided_total', 'Studies decided', { decision: outcome.decision });
    this.logger.info({ studyKey: study.studyKey, decision: outcome.decision, images: results.length, deliveries: deliveries.length }, 'study decided');
  }
}
