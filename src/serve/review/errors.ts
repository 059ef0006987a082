// The review UI's error codes and the HTTP status each maps to. A retired code is never reused.
import { HipfracError, type HipfracErrorDetails } from '../../util/index.js';

export type ReviewErrorCode =
  | 'HF_REVIEW_BAD_REQUEST'
  | 'HF_REVIEW_BAD_USER'
  | 'HF_REVIEW_SIGN_IN'
  | 'HF_REVIEW_LOCKED'
  | 'HF_REVIEW_SESSION'
  | 'HF_REVIEW_CSRF'
  | 'HF_REVIEW_FORBIDDEN'
  | 'HF_REVIEW_NOT_FOUND'
  | 'HF_REVIEW_IMAGE'
  | 'HF_REVIEW_EXPORT';

export const REVIEW_HTTP_STATUS: Readonly<Record<ReviewErrorCode, number>> = {
  HF_REVIEW_BAD_REQUEST: 400,
  HF_REVIEW_BAD_USER: 400,
  HF_REVIEW_SIGN_IN: 401,
  HF_REVIEW_LOCKED: 423,
  HF_REVIEW_SESSION: 401,
  HF_REVIEW_CSRF: 403,
  HF_REVIEW_FORBIDDEN: 403,
  HF_REVIEW_NOT_FOUND: 404,
  HF_REVIEW_IMAGE: 422,
  HF_REVIEW_EXPORT: 500,
};

export class ReviewError extends HipfracError {
  declare readonly code: ReviewErrorCode;

  constructor(code: ReviewErrorCode, message: string, details: HipfracErrorDetails = {}) {
    super(code, message, details);
    this.name = 'ReviewError';
  }
}
