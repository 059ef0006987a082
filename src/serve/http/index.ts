// The node's HTTP side: the Fastify app (health, coded errors, PHI-free logs) and the token check its plugins use.
export { buildHttpApp } from './app.js';
export type { HealthReport, HttpContext, HttpDeps, HttpPlugin } from './app.js';
export { requireScope, requestActor, requestToken } from './auth.js';
