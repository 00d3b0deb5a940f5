// Local OpenID Provider shaped like Civic's auth server (which is built on
// oidc-provider): issuer `<origin>/oauth/`, public clients, PKCE S256,
// refresh-token rotation, RP-initiated and back-channel logout.
//
// Test fixture only. See README.md next to this file for the contract with
// the Rust tests (stdout line, env vars, form shapes, /__stats hook).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// stdout carries exactly one JSON line for the parent process. oidc-provider
// prints some notices via console.info (stdout), so route every console
// method to stderr and write the handshake line with process.stdout directly.
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => console.error(...args);
}

// Tests move this provider's clock along with the app's (POST
// /__clock?advance=SECONDS), so both live in the same later time: a login
// then looks as old to the provider as to the app. Unmoved, this is the
// system clock.
const RealDate = Date;
let clockOffsetMs = 0;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + clockOffsetMs);
    else super(...args);
  }

  static now() { return RealDate.now() + clockOffsetMs; }
};

const MOUNT = '/oauth';
const HOST = '127.0.0.1';

function envSeconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer number of seconds, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const ACCESS_TOKEN_TTL = envSeconds('ACCESS_TOKEN_TTL', 3600);
const ID_TOKEN_TTL = envSeconds('ID_TOKEN_TTL', 3600);
const REFRESH_TOKEN_TTL = envSeconds('REFRESH_TOKEN_TTL', 14 * 24 * 60 * 60);
// The FAPI 2.0 Security Profile, with `1`: pushed requests and DPoP with
// nonces required (as below), and oidc-provider's own FAPI 2.0 checks (a
// client assertion's `aud` is the issuer, PKCE for every client).
const FAPI = process.env.PROVIDER_FAPI === '1';
// RFC 9126: with `1`, every authorization request must be pushed first.
const REQUIRE_PAR = FAPI || process.env.PROVIDER_REQUIRE_PAR === '1';
// RFC 9449: with `1`, every client's tokens must be DPoP-bound, and every
// proof must carry the provider's current nonce (`DPoP-Nonce`).
const REQUIRE_DPOP = FAPI || process.env.PROVIDER_REQUIRE_DPOP === '1';
// The client authentication methods offered (comma-separated), as
// `token_endpoint_auth_methods_supported` lists them; oidc-provider's when unset.
const CLIENT_AUTH_METHODS = process.env.PROVIDER_CLIENT_AUTH_METHODS?.split(',');
// The scopes offered (space-separated), as `scopes_supported` lists them.
const SCOPES = (process.env.PROVIDER_SCOPES || 'openid email profile offline_access').split(' ');
// APIs it issues tokens for (RFC 8707), as JSON: `{ "<indicator>": {
// "scope": "a b", "ttl": SECONDS } }`. Their tokens are opaque, so that
// introspection says whom and what each is for.
const RESOURCES = process.env.PROVIDER_RESOURCES ? JSON.parse(process.env.PROVIDER_RESOURCES) : null;

const DEFAULT_CLIENTS = [{
  client_id: 'demo-client',
  redirect_uris: ['http://localhost:5000/auth/callback', 'http://127.0.0.1:5000/auth/callback'],
  post_logout_redirect_uris: ['http://localhost:5000/', 'http://127.0.0.1:5000/'],
}];

function loadClients() {
  const raw = process.env.PROVIDER_CLIENTS;
  const list = raw ? JSON.parse(raw) : DEFAULT_CLIENTS;
  if (!Array.isArray(list)) throw new TypeError('PROVIDER_CLIENTS must be a JSON array');

  return list.map(({
    client_id: clientId,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris = [],
    backchannel_logout_uri: backchannelLogoutUri,
    // Public client by default, like Civic's: no secret, PKCE instead. A
    // confidential client names its method and brings a `client_secret`,
    // `jwks` or `jwks_uri`; any other metadata given (an ID token
    // algorithm) replaces the default below.
    token_endpoint_auth_method: authMethod = 'none',
    ...registered
  }) => ({
    client_id: clientId,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
    token_endpoint_auth_method: authMethod,
    // Refresh tokens only where `offline_access` is offered (oidc-provider
    // refuses the grant otherwise).
    grant_types: SCOPES.includes('offline_access') ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
    response_types: ['code'],
    // 'web' keeps redirect URI matching exact (port included); http loopback
    // URIs are accepted for web clients as long as implicit is not used.
    application_type: 'web',
    id_token_signed_response_alg: 'RS256',
    ...(REQUIRE_DPOP ? { dpop_bound_access_tokens: true } : {}),
    ...(backchannelLogoutUri ? {
      backchannel_logout_uri: backchannelLogoutUri,
      backchannel_logout_session_required: true,
    } : {}),
    ...registered,
  }));
}

// The ID token algorithms clients may register (id_token_signed_response_alg).
const ID_TOKEN_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

function signingKeys() {
  const jwk = (keyPair, alg) => ({
    ...keyPair.privateKey.export({ format: 'jwk' }),
    kid: `${(alg || 'rsa').toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`,
    ...(alg ? { alg } : {}),
    use: 'sig',
  });
  // The first key of a matching alg signs, so RSA first: id_tokens are
  // RS256 unless a client registers another algorithm; the RSA key without
  // `alg` signs the other RSA algorithms.
  return [
    jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'RS256'),
    jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ES256'),
    jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })),
    jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'ES384'),
    jwk(crypto.generateKeyPairSync('ed25519'), 'EdDSA'),
  ];
}

function capitalise(word) {
  return word ? word.charAt(0).toUpperCase() + word.slice(1).toLowerCase() : word;
}

// Any login is accepted by devInteractions; derive a stable profile from it.
// "ada.lovelace" -> Ada Lovelace; "ada" -> Ada Example.
function accountFor(id) {
  const parts = String(id).split(/[._\-\s@]+/).filter(Boolean);
  const givenName = capitalise(parts[0] || String(id));
  const familyName = parts.length > 1 ? parts.slice(1).map(capitalise).join(' ') : 'Example';
  const claims = {
    sub: id,
    email: `${id}@example.com`,
    email_verified: true,
    name: `${givenName} ${familyName}`,
    given_name: givenName,
    family_name: familyName,
    preferred_username: id,
    picture: `https://example.com/avatars/${encodeURIComponent(id)}.png`,
    updated_at: 1700000000,
  };
  return {
    accountId: id,
    // oidc-provider filters these per granted scope/claims and token use.
    async claims() { return { ...claims }; },
  };
}

// Route names reported by /__stats. Keys follow oidc-provider's route names,
// except the authorization endpoint which is reported under its path, "auth".
const STAT_NAME = { authorization: 'auth' };
let stats = {};
// The refresh token issued last, for tests that play a thief.
let lastRefreshToken = null;

function configuration() {
  return {
    clients: loadClients(),
    jwks: { keys: signingKeys() },
    cookies: { keys: ['civic-auth-poem-dev-cookie-key-1', 'civic-auth-poem-dev-cookie-key-2'] },

    findAccount: async (_ctx, id) => accountFor(id),
    claims: {
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture', 'updated_at'],
    },
    scopes: SCOPES,
    enabledJWA: { idTokenSigningAlgValues: ID_TOKEN_ALGS },
    ...(CLIENT_AUTH_METHODS ? { clientAuthMethods: CLIENT_AUTH_METHODS } : {}),
    // v9 default, stated for clarity: with an access token issued, scope
    // claims go to userinfo only, not into the id_token.
    conformIdTokenClaims: true,

    // S256 is the only method oidc-provider v9 implements; require it always.
    pkce: { required: () => true },
    // Rotate on every use; replaying a used refresh token revokes the grant.
    rotateRefreshToken: true,

    ttl: {
      // An API's own lifetime (`PROVIDER_RESOURCES`) for its tokens.
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL || ACCESS_TOKEN_TTL,
      IdToken: ID_TOKEN_TTL,
      // Mirrors the library default: a rotated token of a public web client
      // keeps the remaining lifetime of the one it replaced.
      RefreshToken(ctx, token, client) {
        if (
          ctx?.oidc?.entities.RotatedRefreshToken
          && client.applicationType === 'web'
          && client.clientAuthMethod === 'none'
          && !token.isSenderConstrained()
        ) {
          return ctx.oidc.entities.RotatedRefreshToken.remainingTTL;
        }
        return REFRESH_TOKEN_TTL;
      },
      AuthorizationCode: 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
    },

    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      // RFC 7662; a public client may introspect its own tokens only.
      introspection: { enabled: true },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: REQUIRE_PAR },
      fapi: FAPI ? { enabled: true, profile: '2.0' } : { enabled: false },
      ...(RESOURCES ? {
        resourceIndicators: {
          enabled: true,
          async getResourceServerInfo(_ctx, indicator) {
            const api = RESOURCES[indicator];
            if (!api) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
            return {
              scope: api.scope,
              audience: indicator,
              accessTokenTTL: api.ttl || ACCESS_TOKEN_TTL,
              accessTokenFormat: 'opaque',
            };
          },
        },
      } : {}),
      dPoP: REQUIRE_DPOP
        ? { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true }
        : { enabled: true },
    },

    // oidc-provider's outgoing fetch (used for back-channel logout) refuses
    // special-use addresses such as 127.0.0.1 as SSRF protection; the test
    // apps live on loopback, so drop that dispatcher here.
    fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
  };
}

function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(payload);
}

async function main() {
  const server = http.createServer();
  const port = Number(process.env.PROVIDER_PORT || 0);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, resolve);
  });
  const actualPort = server.address().port;
  // Trailing slash like Civic's `https://auth.civic.com/oauth/`; endpoints
  // and discovery still live directly under /oauth.
  const issuer = `http://${HOST}:${actualPort}${MOUNT}/`;

  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => console.error('provider server_error:', err));
  provider.on('refresh_token.saved', (token) => { lastRefreshToken = token.jti; });
  provider.on('backchannel.error', (_ctx, err, client) => console.error(`backchannel logout to ${client.clientId} failed:`, err.message));

  provider.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      const route = ctx._matchedRouteName;
      if (route) {
        const key = STAT_NAME[route] || route;
        stats[key] = (stats[key] || 0) + 1;
      }
    }
  });

  const callback = provider.callback();

  server.on('request', (req, res) => {
    const { pathname } = new URL(req.url, 'http://x');

    if (pathname === '/__stats' && req.method === 'GET') {
      sendJson(res, 200, stats);
      return;
    }
    if (pathname === '/__last_refresh_token' && req.method === 'GET') {
      sendJson(res, 200, { refresh_token: lastRefreshToken });
      return;
    }
    if (pathname === '/__clock' && req.method === 'POST') {
      const advance = Number(new URL(req.url, 'http://x').searchParams.get('advance'));
      if (!Number.isInteger(advance) || advance < 0) {
        sendJson(res, 400, { error: 'advance must be a whole number of seconds' });
        return;
      }
      clockOffsetMs += advance * 1000;
      sendJson(res, 200, { offset: clockOffsetMs / 1000 });
      return;
    }
    if (pathname === '/__stats/reset' && req.method === 'POST') {
      stats = {};
      sendJson(res, 200, stats);
      return;
    }

    if (pathname === MOUNT || pathname.startsWith(`${MOUNT}/`)) {
      // Express-style mount: oidc-provider derives its mount path from
      // req.originalUrl minus req.url, so its URLs keep the /oauth prefix.
      req.originalUrl = req.url;
      req.url = req.url.slice(MOUNT.length) || '/';
      if (req.url.startsWith('?')) req.url = `/${req.url}`;
      callback(req, res);
      return;
    }

    sendJson(res, 404, { error: 'not_found' });
  });

  let closing = false;
  const shutdown = (why) => {
    if (closing) return;
    closing = true;
    console.error(`provider: shutting down (${why})`);
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  // Die with the parent: a test harness holds our stdin pipe open, and it
  // closes when that process exits. Only watch a pipe/socket, so running by
  // hand (TTY) or with stdin=/dev/null does not exit immediately.
  const stdin = fs.fstatSync(0);
  if (stdin.isFIFO() || stdin.isSocket()) {
    process.stdin.on('end', () => shutdown('stdin closed'));
    process.stdin.on('error', () => shutdown('stdin error'));
    process.stdin.resume();
  }

  process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
}

main().catch((err) => {
  console.error('provider: failed to start:', err);
  process.exit(1);
});
