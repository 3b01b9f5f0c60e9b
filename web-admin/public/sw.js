// Farm Bridge's service worker: it keeps only the app shell (the page and its hashed
// assets), so the dashboard opens from the home screen with no network and then says it is
// offline. Live data never comes from here: the API, the stream and the bridge's other paths
// go straight to the network, so nothing stale is ever shown as current.
const SHELL_CACHE = "farmbridge-shell-v1";
// The bridge's own paths (farmbridge/webui.py RESERVED_PREFIXES): never cached.
const BRIDGE_PATHS = ["/api", "/docs", "/redoc", "/openapi.json", "/metrics", "/healthz", "/readyz", "/ws"];

function isBridgePath(path) {
  return BRIDGE_PATHS.some((prefix) => path === prefix || path.startsWith(prefix + "/"));
}

self.addEventListener("install", () => {
  // Nothing is fetched ahead: the shell is kept as the page loads it, so installing costs
  // no request of its own.
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL_CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function fromNetworkKeeping(request, key) {
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(SHELL_CACHE);
    await cache.put(key, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || isBridgePath(url.pathname)) {
    return; // the browser's own handling: the network
  }
  if (request.mode === "navigate") {
    // Every client route is the same page: the network first (a new build shows at once),
    // the kept page when there is no network.
    event.respondWith(
      fromNetworkKeeping(request, "/").catch(async () => (await caches.match("/")) ?? Response.error()),
    );
    return;
  }
  if (url.pathname.startsWith("/assets/") || /^\/[\w.-]+\.(png|svg|webmanifest)$/.test(url.pathname)) {
    // Hashed names never change content: kept ones are as good as the network's.
    event.respondWith(
      caches.match(request).then((kept) => kept ?? fromNetworkKeeping(request, request)),
    );
  }
});
