// Verifies a Sigstore bundle (DSSE, public-key hint) with Sigstore's own JavaScript verifier
// (@sigstore/verify 3 over @sigstore/bundle 4): an empty trust root, every threshold 0, and a
// key selector that returns the given public key. Exit 0 verified, 1 rejected (reason printed).
//
// usage: node sigstore-verify.mjs BUNDLE.json PUBLIC.pem [--check-hint]
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey } from 'node:crypto';

const require = createRequire(process.env.SIGSTORE_NODE_MODULES + '/');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, keyPath, flag] = process.argv.slice(2);
try {
  const json = JSON.parse(readFileSync(bundlePath, 'utf8'));
  const bundle = bundleFromJSON(json);
  const key = createPublicKey(readFileSync(keyPath, 'utf8'));
  if (flag === '--check-hint') {
    const der = key.export({ type: 'spki', format: 'der' });
    const hint = createHash('sha256').update(der).digest('base64');
    if (json.verificationMaterial.publicKey.hint !== hint) {
      throw new Error(`hint ${json.verificationMaterial.publicKey.hint} is not ${hint}`);
    }
  }
  const root = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
  };
  const trust = toTrustMaterial(root, () => ({ publicKey: key, validFor: () => true }));
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundle));
  console.log('sigstore-js: verified');
} catch (e) {
  console.log(`sigstore-js: rejected: ${e.code || ''} ${e.message}`);
  process.exit(1);
}
