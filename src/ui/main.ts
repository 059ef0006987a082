// The review app: sign-in, the worklist (filters, keyset pages, live updates), the case viewer with keyboard
// verdicts, and the agreement dashboard. Hash routes: #/worklist, #/case/<study key>, #/dashboard.
import { ApiError, request, setCsrf, whenSignedOut } from './api.js';
import { announce, h, percent, replace, typingIn, when } from './dom.js';
import { ImagePane, PRESETS, type Mark, type ModelBox } from './viewer.js';

interface Me { user: string; role: string; permissions: { identifiers: boolean; verdicts: boolean; dashboard: boolean; settings: boolean }; csrf: string; idleMinutes: number }
interface CaseRow { studyKey: string; accessionNumber: string | null; arrival: string; decision: string | null; probability: number | null; reason: string | null; images: number; views: string; auditSample: boolean; blinded: boolean; needsReview: boolean; state: string; readers: number }
interface Page { rows: CaseRow[]; total: number; next: string | null; seq: number }
interface VerdictView { id: number; reader: string; version: number; verdict: string; image: number | null; box: number[] | null; comment: string; changes: string; blinded: boolean; at: string }
interface ImageInfo { index: number; stored: boolean; status: string; heatmap: boolean; result: { decision: string; probability: number | null; predicted: string; confidence: number | null; level: string; reason: string } | null; boxes: ModelBox[] | null }
interface CaseDetail { case: CaseRow; images: ImageInfo[]; verdicts: VerdictView[]; next: string | null; previous: string | null; canGiveVerdict: boolean; threshold: number }
interface Interval { estimate: number; lower: number; upper: number }
interface Dashboard {
  report: {
    reviewed: number; compared: number; positives: number; threshold: number; agreement: number | null;
    sensitivity: Interval | null; specificity: Interval | null; auc: Interval | null;
    excluded: { notAssessable: number; readersDisagree: number; noModelResult: number };
    disagreements: { studyKey: string; probability: number | null; decision: string | null; model: string; readers: { name: string; verdict: string }[]; auditSample: boolean }[];
    audit: { percent: number; sampled: number; read: number; errors: number; errorRate: number | null; lower: number | null; upper: number | null };
  };
  canChangeSettings: boolean;
}

const API = '/review/api';
const VERDICT_KEYS: Readonly<Record<string, { verdict: string; label: string }>> = {
  f: { verdict: 'fracture', label: 'Fracture' },
  n: { verdict: 'no-fracture', label: 'No fracture' },
  u: { verdict: 'not-assessable', label: 'Not assessable' },
};

/** The node's study decisions (src/serve/results/decideStudy.ts) in the words of its SR. */
const DECISION_TEXT: Readonly<Record<string, string>> = {
  'radiologist-review': 'Needs radiologist review',
  'fracture-suspected': 'Fracture suspected',
  'no-fracture': 'No fracture',
  'not-processed': 'Not processed',
};
const decisionText = (decision: string | null): string => (decision === null ? 'pending' : DECISION_TEXT[decision] ?? decision);

let me: Me | null = null;
let events: EventSource | null = null;
let onPageKey: ((e: KeyboardEvent) => void) | null = null;
const worklistState: { filter: Record<string, string>; cursors: string[]; after: string | null; changes: number } = { filter: {}, cursors: [], after: null, changes: 0 };

const main = (): HTMLElement => document.getElementById('main') as HTMLElement;

function nav(): void {
  const bar = document.getElementById('nav') as HTMLElement;
  if (me === null) {
    replace(bar);
    return;
  }
  replace(bar,
    h('a', { href: '#/worklist' }, 'Worklist'),
    me.permissions.dashboard ? h('a', { href: '#/dashboard' }, 'Dashboard') : null,
    h('span', { class: 'who' }, `${me.user} (${me.role})`),
    h('button', { type: 'button', id: 'sign-out', onclick: () => void signOut() }, 'Sign out'),
  );
}

// ---------------------------------------------------------------- sign-in

async function signInPage(message = ''): Promise<void> {
  me = null;
  events?.close();
  events = null;
  nav();
  const token = await request<{ csrf: string }>('GET', `${API}/login-token`);
  const error = h('p', { id: 'error', role: 'alert', class: 'error' }, message);
  const form = h('form', { id: 'sign-in', class: 'card', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    h('label', { for: 'user' }, 'User name'),
    h('input', { id: 'user', name: 'user', autocomplete: 'username', required: true, maxlength: 64 }),
    h('label', { for: 'password' }, 'Password'),
    h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 256 }),
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = (document.getElementById('user') as HTMLInputElement).value;
    const password = (document.getElementById('password') as HTMLInputElement).value;
    request<Me>('POST', `${API}/login`, { name, password }, { 'x-csrf-token': token.csrf })
      .then((signed) => {
        start(signed);
        location.hash = '#/worklist';
        void route();
      })
      .catch((err: unknown) => {
        error.textContent = err instanceof Error ? err.message : String(err);
        void request<{ csrf: string }>('GET', `${API}/login-token`).then((t) => (token.csrf = t.csrf));
      });
  });
  replace(main(), form);
  (document.getElementById('user') as HTMLInputElement).focus();
}

function start(signed: Me): void {
  me = signed;
  setCsrf(signed.csrf);
  nav();
  events?.close();
  events = new EventSource(`${API}/events`);
  events.addEventListener('worklist', () => {
    worklistState.changes++;
    if (location.hash.startsWith('#/worklist') || location.hash === '') {
      if (worklistState.after === null) void worklistPage(false);
      else {
        const live = document.getElementById('live');
        if (live !== null) live.textContent = `${worklistState.changes} update(s) — go to the first page to see them`;
      }
    }
  });
  events.addEventListener('signed-out', () => {
    events?.close();
    if (me !== null) void signInPage('Your session has ended; sign in again.');
  });
}

async function signOut(): Promise<void> {
  try {
    await request('POST', `${API}/logout`, {});
  } finally {
    events?.close();
    events = null;
    location.hash = '';
    await signInPage('Signed out.');
  }
}

// ---------------------------------------------------------------- worklist

function select(id: string, label: string, options: [string, string][], value: string, onchange: (v: string) => void): HTMLElement[] {
  const s = h('select', { id, name: id }, ...options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  s.addEventListener('change', () => onchange(s.value));
  return [h('label', { for: id }, label), s];
}

async function worklistPage(focusTable = true): Promise<void> {
  const params = new URLSearchParams(worklistState.filter);
  if (worklistState.after !== null) params.set('after', worklistState.after);
  const page = await request<Page>('GET', `${API}/worklist?${params.toString()}`);
  const setFilter = (key: string) => (v: string): void => {
    if (v === '') delete worklistState.filter[key];
    else worklistState.filter[key] = v;
    worklistState.after = null;
    worklistState.cursors = [];
    void worklistPage(false).then(() => document.getElementById(key)?.focus());
  };
  const ids = me?.permissions.identifiers === true;
  const table = h('table', { id: 'worklist', 'aria-describedby': 'worklist-summary' },
    h('caption', {}, 'Cases needing review first, then the rest; newest first within each.'),
    h('thead', {}, h('tr', {}, ...['Arrival', ids ? 'Accession / study' : 'Study', 'Decision', 'P(fracture)', 'Views', 'State', 'Readers'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...page.rows.map((r) => h('tr', { class: r.needsReview ? 'needs-review' : '', 'data-key': r.studyKey, 'data-state': r.state },
      h('td', {}, when(r.arrival)),
      h('td', {}, h('a', { href: `#/case/${r.studyKey}`, class: 'case-link' }, ids && r.accessionNumber !== null && r.accessionNumber !== '' ? `${r.accessionNumber} · ${r.studyKey}` : r.studyKey)),
      h('td', {}, r.blinded ? 'audit (blinded)' : decisionText(r.decision)),
      h('td', { class: 'num' }, r.blinded ? '—' : percent(r.probability)),
      h('td', {}, r.views !== '' ? r.views : `${r.images} image${r.images === 1 ? '' : 's'}`),
      h('td', {}, h('span', { class: `state state-${r.state}` }, r.state === 'in-review' ? 'in review' : r.state)),
      h('td', { class: 'num' }, r.readers),
    ))),
  );
  const pager = h('div', { class: 'pager' },
    h('button', { type: 'button', id: 'first-page', disabled: worklistState.after === null, onclick: () => { worklistState.after = null; worklistState.cursors = []; void worklistPage(); } }, 'First page'),
    h('button', { type: 'button', id: 'next-page', disabled: page.next === null, onclick: () => { if (page.next !== null) { worklistState.cursors.push(worklistState.after ?? ''); worklistState.after = page.next; void worklistPage(); } } }, 'Next page'),
  );
  worklistState.changes = 0;
  replace(main(),
    h('h1', {}, 'Worklist'),
    h('form', { class: 'filters', onsubmit: (e: Event) => e.preventDefault() },
      ...select('queue', 'Queue', [['', 'All'], ['review', 'Needs review'], ['rest', 'The rest']], worklistState.filter['queue'] ?? '', setFilter('queue')),
      ...select('state', 'State', [['', 'Any'], ['new', 'New'], ['in-review', 'In review'], ['read', 'Read']], worklistState.filter['state'] ?? '', setFilter('state')),
      ...select('decision', 'Decision', [['', 'Any'], ...Object.entries(DECISION_TEXT)], worklistState.filter['decision'] ?? '', setFilter('decision')),
    ),
    h('p', { id: 'worklist-summary' }, `${page.total} case(s) match.`, ' ', h('span', { id: 'live', class: 'live', 'aria-live': 'polite' }, events !== null ? 'Live updates on.' : '')),
    table,
    pager,
  );
  document.body.dataset['worklistRendered'] = String(Number(document.body.dataset['worklistRendered'] ?? '0') + 1);
  performance.mark('hf-worklist-rendered');
  if (focusTable) (document.querySelector('#worklist a.case-link') as HTMLElement | null)?.focus();
}

// ---------------------------------------------------------------- case viewer

async function casePage(key: string): Promise<void> {
  // Until this case is on screen, keys do nothing (they acted on the previous case while this one loaded) and the
  // shown-images count starts again.
  onPageKey = null;
  delete document.body.dataset['case'];
  document.body.dataset['imagesShown'] = '0';
  const detail = await request<CaseDetail>('GET', `${API}/cases/${encodeURIComponent(key)}`);
  const c = detail.case;
  const panes = detail.images.filter((i) => i.stored).map((i) => new ImagePane(i.index, `Image ${i.index + 1}`, i.heatmap ? `${API}/cases/${key}/images/${i.index}/heatmap` : null, i.boxes ?? []));
  let mark: { image: number; box: Mark } | null = null;
  let heatmapOn = false;
  const saved = h('p', { id: 'verdict-status', role: 'status', 'aria-live': 'polite' });
  const markText = h('span', { id: 'mark-text' }, 'No location marked.');
  const comment = h('textarea', { id: 'comment', name: 'comment', rows: 3, maxlength: 2000 });
  const heatButton = h('button', { type: 'button', id: 'toggle-heatmap', 'aria-pressed': 'false', disabled: panes.every((p) => p.heatmapUrl === null) }, 'Heatmap (H)');
  const invertButton = h('button', { type: 'button', id: 'toggle-invert', 'aria-pressed': 'false' }, 'Invert (I)');
  const markButton = h('button', { type: 'button', id: 'toggle-mark', 'aria-pressed': 'false' }, 'Mark location (B)');
  const opacity = h('input', { id: 'opacity', name: 'opacity', type: 'range', min: 0, max: 100, value: 45 });
  const preset = h('select', { id: 'preset', name: 'preset' }, ...PRESETS.map((p, i) => h('option', { value: i }, `${p.name} (${p.key})`)));

  const setHeatmap = (on: boolean): void => {
    heatmapOn = on;
    heatButton.setAttribute('aria-pressed', String(on));
    for (const p of panes) {
      p.showHeatmap = on;
      p.redraw();
    }
    announce(on ? 'Heatmap shown.' : 'Heatmap hidden.');
  };
  const setMarkMode = (on: boolean): void => {
    markButton.setAttribute('aria-pressed', String(on));
    for (const p of panes) p.markMode = on;
  };
  const applyPreset = (i: number): void => {
    const p = PRESETS[i];
    if (p === undefined) return;
    preset.value = String(i);
    for (const pane of panes) pane.setWindow(p.pick(pane.defaultWindow));
  };
  for (const pane of panes) {
    pane.onMark = (m) => {
      mark = m === null ? null : { image: pane.index, box: m };
      for (const other of panes) if (other !== pane && other.mark !== null) { other.mark = null; other.redraw(); }
      markText.textContent = mark === null ? 'No location marked.' : `Marked ${mark.box[0] === mark.box[2] ? 'a point' : 'a box'} on image ${pane.index + 1}.`;
    };
  }
  heatButton.addEventListener('click', () => setHeatmap(!heatmapOn));
  invertButton.addEventListener('click', () => {
    const on = invertButton.getAttribute('aria-pressed') !== 'true';
    invertButton.setAttribute('aria-pressed', String(on));
    for (const p of panes) p.setInvert(on);
  });
  markButton.addEventListener('click', () => setMarkMode(markButton.getAttribute('aria-pressed') !== 'true'));
  opacity.addEventListener('input', () => {
    for (const p of panes) {
      p.opacity = Number(opacity.value) / 100;
      p.redraw();
    }
  });
  preset.addEventListener('change', () => applyPreset(Number(preset.value)));

  const history = h('ol', { id: 'verdicts', class: 'verdicts' });
  const renderHistory = (list: VerdictView[]): void => {
    replace(history, ...list.map((v) => h('li', { 'data-reader': v.reader, 'data-verdict': v.verdict },
      h('strong', {}, `${v.reader} v${v.version}: ${v.verdict}`), ` · ${when(v.at)} · ${v.changes}`,
      v.box !== null ? ` · location on image ${(v.image ?? 0) + 1}` : '',
      v.comment !== '' ? h('blockquote', { class: 'comment' }, v.comment) : null,
    )));
    if (list.length === 0) history.appendChild(h('li', { class: 'none' }, 'No verdict yet.'));
  };
  renderHistory(detail.verdicts);

  const give = async (verdict: string): Promise<void> => {
    if (!detail.canGiveVerdict) {
      saved.textContent = `Your role (${me?.role ?? ''}) cannot give verdicts.`;
      return;
    }
    try {
      const body = { verdict, comment: comment.value, image: mark?.image ?? null, box: mark?.box ?? null };
      const r = await request<{ verdict: VerdictView; others: VerdictView[] }>('POST', `${API}/cases/${encodeURIComponent(key)}/verdicts`, body);
      const again = await request<CaseDetail>('GET', `${API}/cases/${encodeURIComponent(key)}`);
      renderHistory(again.verdicts);
      replace(resultBox, ...resultLines(again));
      saved.textContent = `Saved: ${r.verdict.verdict} (version ${r.verdict.version}).${r.others.length > 0 ? ` Also read by ${r.others.map((o) => `${o.reader}: ${o.verdict}`).join(', ')} — both verdicts are kept.` : ''}`;
    } catch (error) {
      saved.textContent = error instanceof Error ? error.message : String(error);
    }
  };

  const resultLines = (d: CaseDetail): (HTMLElement | string)[] => {
    if (d.case.blinded) return [h('p', { class: 'blinded' }, 'Blinded audit case: the model\'s result stays hidden until you give your verdict.')];
    return [
      h('dl', {},
        h('dt', {}, 'P(fracture)'), h('dd', { id: 'probability' }, percent(d.case.probability)),
        h('dt', {}, 'Decision'), h('dd', { id: 'decision' }, decisionText(d.case.decision)),
        h('dt', {}, 'Reason'), h('dd', {}, d.case.reason ?? '—'),
        h('dt', {}, 'Operating point'), h('dd', {}, `calls fracture at P ≥ ${d.threshold}`),
      ),
      h('ul', { class: 'per-image' }, ...d.images.map((i) => h('li', {}, `Image ${i.index + 1}: `, i.result === null ? (i.stored ? 'no result' : `not stored (${i.status})`) : `${i.result.decision}, P ${percent(i.result.probability)}${i.result.level !== '' ? `, ${i.result.level}` : ''}`))),
    ];
  };
  const resultBox = h('section', { class: 'result', 'aria-label': 'Model result' }, ...resultLines(detail));

  const go = (target: string | null): void => {
    if (target !== null) location.hash = `#/case/${target}`;
    else announce('No more cases in this direction.');
  };
  const verdictButtons = Object.entries(VERDICT_KEYS).map(([k, v]) => h('button', { type: 'button', id: `verdict-${v.verdict}`, class: `verdict verdict-${v.verdict}`, disabled: !detail.canGiveVerdict, onclick: () => void give(v.verdict) }, `${v.label} (${k.toUpperCase()})`));

  replace(main(),
    h('div', { class: 'case-head' },
      h('h1', {}, `Case ${detail.case.accessionNumber !== null && detail.case.accessionNumber !== '' ? `${detail.case.accessionNumber} · ` : ''}${c.studyKey}`),
      h('span', { class: `state state-${c.state}` }, c.state),
      h('button', { type: 'button', id: 'previous-case', onclick: () => go(detail.previous), disabled: detail.previous === null }, '← Previous'),
      h('button', { type: 'button', id: 'next-case', onclick: () => go(detail.next), disabled: detail.next === null }, 'Next →'),
      h('a', { href: '#/worklist', id: 'back' }, 'Back to worklist (Esc)'),
    ),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Image tools' },
      h('label', { for: 'preset' }, 'Window preset'), preset,
      invertButton, heatButton,
      h('label', { for: 'opacity' }, 'Heatmap opacity'), opacity,
      markButton,
      h('button', { type: 'button', id: 'reset-view', onclick: () => panes.forEach((p) => p.resetView()) }, 'Reset zoom (R)'),
    ),
    h('div', { class: 'case-body' },
      h('div', { class: 'panes' }, ...panes.map((p) => p.element)),
      h('aside', { class: 'side' },
        resultBox,
        h('section', { 'aria-label': 'Verdict' },
          h('h2', {}, 'Verdict'),
          detail.canGiveVerdict ? null : h('p', { class: 'note' }, `Your role (${me?.role ?? ''}) cannot give verdicts.`),
          h('div', { class: 'verdict-buttons' }, ...verdictButtons),
          h('p', {}, markText, ' ', h('button', { type: 'button', id: 'clear-mark', onclick: () => { mark = null; panes.forEach((p) => { p.mark = null; p.redraw(); }); markText.textContent = 'No location marked.'; } }, 'Clear mark')),
          h('label', { for: 'comment' }, 'Comment (optional)'),
          comment,
          saved,
        ),
        h('section', { 'aria-label': 'Verdict history' }, h('h2', {}, 'Verdicts'), history),
        h('p', { class: 'keys' }, 'Keys: F fracture · N no fracture · U not assessable · H heatmap · I invert · B mark · 1–4 presets · +/− zoom · R reset · ←/→ previous/next · Esc worklist'),
      ),
    ),
  );
  onPageKey = (e: KeyboardEvent) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typingIn(e.target)) {
      if (e.key === 'Escape') (e.target as HTMLElement).blur();
      return;
    }
    const k = e.key.toLowerCase();
    const v = VERDICT_KEYS[k];
    if (v !== undefined) void give(v.verdict);
    else if (k === 'h') setHeatmap(!heatmapOn);
    else if (k === 'i') invertButton.click();
    else if (k === 'b') markButton.click();
    else if (k === 'r') panes.forEach((p) => p.resetView());
    else if (k === '+' || k === '=') panes.forEach((p) => p.zoomBy(1.25));
    else if (k === '-') panes.forEach((p) => p.zoomBy(0.8));
    else if (['1', '2', '3', '4'].includes(k)) applyPreset(Number(k) - 1);
    else if (e.key === 'ArrowRight' || e.key === 'ArrowDown') go(detail.next);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') go(detail.previous);
    else if (e.key === 'Escape') location.hash = '#/worklist';
    else return;
    e.preventDefault();
  };
  // Which case the panes on screen belong to: until it is set, a count of shown images may still be the last case's.
  document.body.dataset['case'] = key;
  document.body.dataset['imagesShown'] = '0';
  performance.mark('hf-case-opened');
  (panes[0]?.canvas ?? verdictButtons[0])?.focus();
  await Promise.all(panes.map((p) => p.load(`${API}/cases/${encodeURIComponent(key)}/images/${p.index}/pixels`).catch((err: unknown) => { p.caption.textContent = `Image ${p.index + 1}: ${err instanceof Error ? err.message : String(err)}`; })));
}

// ---------------------------------------------------------------- dashboard

function interval(i: Interval | null): string {
  if (i === null) return 'not defined (too few cases of a class)';
  return `${(i.estimate * 100).toFixed(1)} % (95 % CI ${(i.lower * 100).toFixed(1)}–${(i.upper * 100).toFixed(1)})`;
}

async function dashboardPage(): Promise<void> {
  const d = await request<Dashboard>('GET', `${API}/dashboard`);
  const r = d.report;
  const audit = r.audit;
  const percentInput = h('input', { id: 'audit-percent', name: 'audit-percent', type: 'number', min: 0, max: 100, step: 0.5, value: audit.percent });
  const saveStatus = h('span', { role: 'status', id: 'audit-status' });
  replace(main(),
    h('h1', {}, 'Model and radiologists'),
    h('section', { 'aria-label': 'Agreement' },
      h('h2', {}, 'Agreement on reviewed cases'),
      h('p', {}, `${r.reviewed} case(s) read; ${r.compared} with a reference label and a model result (${r.positives} with fracture). The readers' consensus is the reference; the model calls a fracture at P ≥ ${r.threshold}.`),
      h('table', { id: 'agreement' },
        h('caption', {}, 'Model against radiologists (95 % percentile-bootstrap intervals)'),
        h('tbody', {},
          h('tr', {}, h('th', { scope: 'row' }, 'Sensitivity'), h('td', {}, interval(r.sensitivity))),
          h('tr', {}, h('th', { scope: 'row' }, 'Specificity'), h('td', {}, interval(r.specificity))),
          h('tr', {}, h('th', { scope: 'row' }, 'ROC AUC'), h('td', {}, interval(r.auc))),
          h('tr', {}, h('th', { scope: 'row' }, 'Agreement'), h('td', {}, r.agreement === null ? '—' : percent(r.agreement))),
          h('tr', {}, h('th', { scope: 'row' }, 'Left out'), h('td', {}, `${r.excluded.notAssessable} not assessable · ${r.excluded.readersDisagree} readers disagree · ${r.excluded.noModelResult} without a model result`)),
        ),
      ),
    ),
    h('section', { 'aria-label': 'Disagreements' },
      h('h2', {}, `Disagreements (${r.disagreements.length})`),
      h('table', { id: 'disagreements' },
        h('thead', {}, h('tr', {}, ...['Study', 'Model', 'P(fracture)', 'Decision', 'Readers'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...r.disagreements.map((x) => h('tr', {},
          h('td', {}, h('a', { href: `#/case/${x.studyKey}` }, x.studyKey)),
          h('td', {}, x.model), h('td', { class: 'num' }, percent(x.probability)), h('td', {}, `${x.decision === null ? '—' : decisionText(x.decision)}${x.auditSample ? ' (audit)' : ''}`),
          h('td', {}, x.readers.map((y) => `${y.name}: ${y.verdict}`).join(', ')),
        ))),
      ),
    ),
    h('section', { 'aria-label': 'Audit sample' },
      h('h2', {}, 'Auto-report audit sample'),
      h('p', { id: 'audit-summary' }, `${audit.percent} % of auto-reported cases go to blinded review; ${audit.sampled} drawn, ${audit.read} read, ${audit.errors} auto-report error(s)`,
        audit.errorRate === null ? '.' : ` — error rate ${percent(audit.errorRate)} (95 % CI ${percent(audit.lower)}–${percent(audit.upper)}).`),
      d.canChangeSettings
        ? h('form', { id: 'audit-form', onsubmit: (e: Event) => {
          e.preventDefault();
          request<{ percent: number }>('PUT', `${API}/settings/audit`, { percent: Number(percentInput.value) })
            .then((x) => { saveStatus.textContent = `Saved: ${x.percent} %.`; })
            .catch((err: unknown) => { saveStatus.textContent = err instanceof Error ? err.message : String(err); });
        } }, h('label', { for: 'audit-percent' }, 'Audit sample (% of auto-reported cases)'), percentInput, h('button', { type: 'submit' }, 'Save'), saveStatus)
        : h('p', { class: 'note' }, 'An administrator sets the percentage.'),
    ),
  );
}

// ---------------------------------------------------------------- routing

async function route(): Promise<void> {
  onPageKey = null;
  if (me === null) {
    try {
      start(await request<Me>('GET', `${API}/me`));
    } catch {
      await signInPage();
      return;
    }
  }
  const hash = location.hash;
  try {
    const m = /^#\/case\/(S[0-9a-f]{16})$/.exec(hash);
    if (m !== null) await casePage(m[1] as string);
    else if (hash === '#/dashboard') await dashboardPage();
    else await worklistPage();
  } catch (error) {
    if (error instanceof ApiError && error.code === 'HF_REVIEW_SESSION') return;
    replace(main(), h('p', { id: 'error', role: 'alert', class: 'error' }, error instanceof Error ? error.message : String(error)), h('a', { href: '#/worklist' }, 'Back to the worklist'));
  }
}

whenSignedOut((message) => {
  // Only a session that ends while in use: before sign-in, route() shows the sign-in page itself (two pages at
  // once would each set a sign-in token cookie, and the form could carry the other one's token).
  if (me === null) return;
  void signInPage(message.includes('expired') ? 'Your session has expired; sign in again.' : message);
});
window.addEventListener('hashchange', () => void route());
document.addEventListener('keydown', (e) => onPageKey?.(e));
void route();
