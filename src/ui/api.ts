// The app's calls to /review/api: JSON in and out, the session's CSRF token on every change, and one place that
// turns an expired session into the sign-in page.

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

let csrf = '';
let onSignedOut: (message: string) => void = () => undefined;

export function setCsrf(token: string): void {
  csrf = token;
}

export function whenSignedOut(handler: (message: string) => void): void {
  onSignedOut = handler;
}

async function failure(response: Response): Promise<ApiError> {
  let code = 'http';
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: string; message?: string };
    code = body.error ?? code;
    message = body.message ?? message;
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401 && code === 'HF_REVIEW_SESSION') onSignedOut(message);
  return new ApiError(response.status, code, message);
}

export async function request<T>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { ...headers } };
  if (method !== 'GET') (init.headers as Record<string, string>)['x-csrf-token'] = headers['x-csrf-token'] ?? csrf;
  if (body !== undefined) {
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

export async function binary(url: string): Promise<{ readonly buffer: ArrayBuffer; readonly headers: Headers }> {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw await failure(response);
  return { buffer: await response.arrayBuffer(), headers: response.headers };
}
