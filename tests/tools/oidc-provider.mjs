// A certified OpenID Connect provider (npm oidc-provider) at its defaults, for
// tests/test_sign_in_certified.py: only what a test must set is set here, one client and the
// people who may sign in (and their claims). Its own development login form
// (devInteractions, on by default) signs people in by their account id.
//
//   node oidc-provider.mjs <port> <client_id> <client_secret> <redirect_uri> <people.json>
//
// people.json maps an account id to its claims ({"alice": {"email": ..., "name": ...}}).
// It listens on 127.0.0.1:<port>, issuer http://127.0.0.1:<port> (NODE_ENV unset: development),
// prints "listening <issuer>" when ready, and logs every error event as one line, for the test.
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri, peopleFile] = process.argv.slice(2);
const people = JSON.parse(readFileSync(peopleFile, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [redirectUri],
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  async findAccount(ctx, id) {
    if (!(id in people)) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...people[id] }; } };
  },
});

for (const event of ['authorization.error', 'grant.error', 'server_error', 'end_session.error']) {
  provider.on(event, (ctx, err) => {
    console.log(`${event} ${err.error || err.name} ${err.error_description || err.message}`);
  });
}

provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${issuer}`));
