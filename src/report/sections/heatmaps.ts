// The report section for heatmaps: localisation scores against boxes, faithfulness, and a gallery of overlays.
import { escapeHtml, formatNumber, gallery, note, paragraph, statCards, type GalleryItem, type ReportSection, type StatCard } from '../index.js';
import type { PerturbationCurve } from '../../explain/index.js';
import type { LocalisationSummary } from '../../explain/index.js';

export interface HeatmapGalleryEntry {
  /** The overlay PNG bytes (writeOverlayPng's output read back, or renderOverlay encoded). */
  readonly overlayPng: Uint8Array;
  /** e.g. "fracture · P = 0.97". */
  readonly caption: string;
  /** Pseudonymous case key. */
  readonly key?: string;
  /** Pointing-game result of this image, when it has a box. */
  readonly hit?: boolean;
  /** Energy share inside its boxes. */
  readonly energy?: number;
}

export interface HeatmapSectionInput {
  /** e.g. 'Grad-CAM'. */
  readonly method: string;
  /** Target layer path(s). */
  readonly layers: readonly string[];
  readonly items: readonly HeatmapGalleryEntry[];
  readonly localisation?: LocalisationSummary;
  readonly deletion?: PerturbationCurve;
  readonly insertion?: PerturbationCurve;
  /** The same curves for a random pixel order, the baseline they are read against. */
  readonly randomDeletion?: PerturbationCurve;
  readonly randomInsertion?: PerturbationCurve;
  /** Data set the scores come from, e.g. 'phantom cohort (validation, 120 fractures)'. */
  readonly source?: string;
}

/** Section "Where the model looked": headline scores as cards, then the overlay gallery. */
export function heatmapSection(input: HeatmapSectionInput): ReportSection {
  const cards: StatCard[] = [];
  const loc = input.localisation;
  if (loc !== undefined && loc.n > 0) {
    cards.push({ label: 'Pointing game', value: formatNumber(loc.pointingGame, 'percent'), detail: `random heatmap ${formatNumber(loc.randomBaseline, 'percent')} · ${loc.n} images with boxes` });
    cards.push({ label: 'Heat inside boxes', value: formatNumber(loc.energyInBoxes, 'percent'), detail: `boxes cover ${formatNumber(loc.randomBaseline, 'percent')} of the image` });
  }
  const pair = (name: string, curve?: PerturbationCurve, random?: PerturbationCurve, better?: string): void => {
    if (curve === undefined) return;
    cards.push({ label: `${name} AUC`, value: formatNumber(curve.meanAuc, 'decimal', 3), detail: `${random === undefined ? '' : `random order ${formatNumber(random.meanAuc, 'decimal', 3)} · `}${better}` });
  };
  pair('Deletion', input.deletion, input.randomDeletion, 'lower is more faithful');
  pair('Insertion', input.insertion, input.randomInsertion, 'higher is more faithful');
  const galleryItems: GalleryItem[] = input.items.map((it) => {
    const score = it.hit === undefined ? '' : ` · ${it.hit ? 'peak in box' : 'peak outside box'}${it.energy === undefined ? '' : `, ${(100 * it.energy).toFixed(0)} % heat in box`}`;
    return { image: it.overlayPng, caption: `${it.caption}${score}`, ...(it.key === undefined ? {} : { key: it.key }) };
  });
  const html = [
    paragraph(`${input.method} on ${input.layers.join(', ')}${input.source === undefined ? '' : `, ${input.source}`}. Heat is normalised per image; it shows where the score's gradient concentrated, not proof of a fracture.`),
    cards.length > 0 ? statCards(cards) : '',
    loc === undefined ? note('No ground-truth boxes: localisation scores are not available for these images.') : '',
    gallery(galleryItems, { caption: `${escapeHtml(input.method)} overlays` }),
  ].join('');
  return { id: 'heatmaps', title: 'Where the model looked', html };
}
