// The radiologist review UI's server side: users and sessions, the worklist, the viewer's pixels and heatmaps,
// versioned verdicts, the agreement dashboard and the feedback export. Wire it into `hipfrac serve` with
// `openStore(dataDir, { migrations: REVIEW_MIGRATIONS })` and `buildHttpApp(deps, [..., reviewPlugin({ store, blobs })])`.
export { REVIEW_MIGRATIONS } from './migrations.js';
export { reviewPlugin } from './plugin.js';
export type { ReviewPluginOptions } from './plugin.js';
export type { SessionOptions, SsoOptions } from './session.js';
export { ReviewRepository } from './repository.js';
export { ReviewError, REVIEW_HTTP_STATUS } from './errors.js';
export type { ReviewErrorCode } from './errors.js';
export { hashPassword, verifyPassword, checkPasswordRules, MIN_PASSWORD_LENGTH } from './passwords.js';
export { agreementReport, consensusLabel, modelCall } from './agreement.js';
export type { AgreementReport, Disagreement } from './agreement.js';
export { exportFeedback } from './export.js';
export type { FeedbackExportOptions, FeedbackExportReport } from './export.js';
export { buildReviewAssets, DEFAULT_ASSETS_DIR } from './assets.js';
export { ROLES, VERDICTS, PERMISSIONS } from './types.js';
export type { Role, Verdict, CaseState, ReviewUser, ReviewCase, VerdictRecord, VerdictInput, WorklistFilter, WorklistPage, Box } from './types.js';
