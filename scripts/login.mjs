// Logs in to an app through the local provider's own forms, by plain HTTP
// (no browser), and prints the app's session cookie header, for benchmarks:
//
//   node scripts/login.mjs <appBaseUrl> <login> [count]
//
// With a count, logs in that many times (new cookies each time, as that
// many browsers) and prints one cookie header per line.

const [appBase, login, countArg] = process.argv.slice(2);
if (!appBase || !login) {
  console.error('usage: node scripts/login.mjs <appBaseUrl> <login> [count]');
  process.exit(2);
}

let jar = new Map(); // host -> Map(name -> value), like a browser's

function remember(url, response) {
  const host = new URL(url).host.split(':')[0];
  const cookies = jar.get(host) ?? new Map();
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';');
    const [name, ...rest] = pair.split('=');
    const expired = attributes.some((a) => a.trim().toLowerCase() === 'max-age=0');
    if (expired) cookies.delete(name.trim());
    else cookies.set(name.trim(), rest.join('='));
  }
  jar.set(host, cookies);
}

function cookieHeader(url) {
  const cookies = jar.get(new URL(url).host.split(':')[0]) ?? new Map();
  return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
}

async function request(url, options = {}) {
  const response = await fetch(url, {
    ...options,
    redirect: 'manual',
    headers: { ...(options.headers ?? {}), cookie: cookieHeader(url), accept: 'text/html' },
  });
  remember(url, response);
  return response;
}

// Follows redirects and fills the provider's login and consent forms.
async function logIn() {
  jar = new Map();
  let url = `${appBase}/auth/login`;
  let response = await request(url);
  for (let step = 0; step < 30; step += 1) {
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url).toString();
      if (url.startsWith(appBase) && !url.includes('/auth/')) break;
      response = await request(url);
      continue;
    }
    const page = await response.text();
    const prompt = page.match(/name="prompt" value="([^"]+)"/)?.[1];
    const action = page.match(/action="([^"]+)"/)?.[1];
    if (!prompt || !action) {
      console.error(`login stopped at ${url} (${response.status})`);
      process.exit(1);
    }
    const form = new URLSearchParams({ prompt });
    if (prompt === 'login') {
      form.set('login', login);
      form.set('password', 'any');
    }
    url = new URL(action, url).toString();
    response = await request(url, { method: 'POST', body: form });
  }
  const session = cookieHeader(appBase)
    .split('; ')
    .filter((c) => c.startsWith('civic_session'))
    .join('; ');
  if (!session) {
    console.error('no session cookie after login');
    process.exit(1);
  }
  return session;
}

for (let i = 0; i < Number(countArg ?? 1); i += 1) {
  console.log(await logIn());
}
