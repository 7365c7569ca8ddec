// Verifies one steward attestation with the `jose` package, as a provider written in JavaScript
// would, and prints what it concluded as one line of JSON. Used by tests/attestation_jose.test.cpp.
//
//   node verify.mjs TOKEN_FILE JWKS_FILE ISSUER AUDIENCE NOW_SECONDS
//
// Exit 0: verified; prints {"sub","email","aud","iss","jti","kid","typ"}.
// Exit 1: refused by jose; prints {"error": jose's error code, "claim": the failed claim or ""}.
// Exit 2: cannot run (jose not installed, bad arguments); the reason goes to stderr.

import { readFileSync } from 'node:fs';

const [tokenFile, jwksFile, issuer, audience, nowText] = process.argv.slice(2);
if (nowText === undefined || !/^[0-9]+$/.test(nowText)) {
  process.stderr.write('usage: node verify.mjs TOKEN_FILE JWKS_FILE ISSUER AUDIENCE NOW_SECONDS\n');
  process.exit(2);
}

let jose;
try {
  jose = await import('jose');
} catch (error) {
  process.stderr.write(`the jose package is not installed (${error.code ?? error.message}); ` +
                       'run tools/install-deps\n');
  process.exit(2);
}

const token = readFileSync(tokenFile, 'utf8');
const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));

try {
  const keys = jose.createLocalJWKSet(jwks);
  const { payload, protectedHeader } = await jose.jwtVerify(token, keys, {
    issuer,
    audience,
    typ: 'steward-attestation+jwt',
    algorithms: ['EdDSA'],
    maxTokenAge: 300,
    requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti'],
    currentDate: new Date(Number(nowText) * 1000),
  });
  process.stdout.write(JSON.stringify({
    sub: payload.sub,
    email: payload.email,
    aud: payload.aud,
    iss: payload.iss,
    jti: payload.jti,
    kid: protectedHeader.kid,
    typ: protectedHeader.typ,
  }) + '\n');
  process.exit(0);
} catch (error) {
  process.stdout.write(JSON.stringify({ error: error.code ?? 'unknown', claim: error.claim ?? '' }) +
                       '\n');
  process.exit(1);
}
