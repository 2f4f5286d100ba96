// The renderer's Content-Security-Policy, in one place: the <meta> in renderer/index.html must
// carry PRODUCTION_CSP verbatim (the build checks it), main sends it as a header too.
// No inline script or style, no eval, nothing loaded from elsewhere; `connect-src 'self'`
// also covers the same-origin ws:// of the headless server.
export const PRODUCTION_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"

/** Vite's dev server injects styles inline and runs HMR over a WebSocket. */
export const DEV_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self' ws://localhost:* ws://127.0.0.1:*; base-uri 'none'; form-action 'none'"
