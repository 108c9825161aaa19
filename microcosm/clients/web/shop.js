/* microcosm shop: the web client of chapter 09, in plain JavaScript (no build step, no library).

   The page comes from one origin (the `web` service) and calls another (the gateway), which allows it by CORS.
   What a browser client must do for itself:

   - keep its tokens in memory only (a variable: never localStorage, where any script that gets into the page
     could read them; a reload means signing in again),
   - renew the access token before it expires, and once more if the gateway says it has (401), with the refresh
     token, ONE renewal at a time: the provider rotates refresh tokens and takes a reused one for a stolen one,
     so two renewals racing with the same token would end the session,
   - send an Idempotency-Key with every order, and the same key again if it retries that order,
   - tell its user what went wrong, in words, whatever the gateway, a service or the network did.

   Server data is put in the page with textContent only, never innerHTML: a product named "<img onerror=...>"
   stays text. (The origin's Content-Security-Policy would stop an injected script anyway: two locks.)
*/
"use strict";

const REQUEST_TIMEOUT_MS = 10000;
const FOLLOW_FOR_MS = 120000;  // how long an order is followed while it stays pending

const shop = {
  config: null,          // {gateway_url, poll_ms}: from config.json, on this page's own origin
  session: null,         // {user, access, refresh, expiresAt, ttl}: in memory only
  renewing: null,        // the renewal in flight (a Promise), shared by every call that needs it
  renewals: 0,           // how many times the access token was renewed (shown in #session's data-renewals)
  products: new Map(),   // id -> {id, name, price_cents}
  cart: [],              // [{product_id, quantity}]
  orders: new Map(),     // id -> the order as the gateway last gave it
  timers: new Map(),     // order id -> its polling timer
  orderKeys: new Map(),  // "product:quantity" -> the Idempotency-Key of its order, until it left the cart
};

class ShopError extends Error {
  constructor(status, message, details = {}) {
    super(message);
    this.status = status;    // the HTTP status, 0 when no answer came
    this.details = details;  // error, reason, retryAfter, requestId, network, timeout
  }
}

const $ = (id) => document.getElementById(id);
const money = (cents) => (cents / 100).toFixed(2);

/* ---- talking to the gateway -------------------------------------------------------------------------- */

async function send(method, path, { body, form, headers = {}, auth = true } = {}) {
  // One HTTP call to the gateway: JSON (or a form) in, JSON out, a ShopError for anything but a 2xx.
  const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store", credentials: "omit" };
  if (form) {
    init.body = new URLSearchParams(form);  // application/x-www-form-urlencoded, as OAuth's /token wants
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (auth && shop.session) init.headers.Authorization = `Bearer ${shop.session.access}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  init.signal = abort.signal;
  let response;
  try {
    response = await fetch(shop.config.gateway_url + path, init);
  } catch (err) {
    // fetch rejects without an answer: network down, gateway stopped, or an answer the browser hid (CORS)
    const timeout = abort.signal.aborted;
    const why = timeout ? `the gateway did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`
      : navigator.onLine === false ? "your browser is offline"
      : `cannot reach the gateway at ${shop.config.gateway_url} (stopped, unreachable, or it does not allow `
        + "this page's origin: CORS)";
    throw new ShopError(0, why, { network: true, timeout });
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const text = await response.text().catch(() => "");
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const message = (data && (data.error_description || data.message || data.error)) || response.statusText
      || "no explanation given";
    throw new ShopError(response.status, String(message), {
      error: data && data.error, reason: data && data.reason,
      retryAfter: response.headers.get("Retry-After"),
      requestId: response.headers.get("X-Request-ID") || (data && data.request_id),
    });
  }
  return data;
}

async function api(method, path, options = {}) {
  // A call with the session's token: renewed first when it is about to expire, and once more on a 401.
  if (shop.session && expiringSoon()) await renew();
  try {
    return await send(method, path, options);
  } catch (err) {
    if (err.status === 401 && shop.session && shop.session.refresh && !options.retried) {
      await renew();  // expired after all (clocks differ), or signed by a key the gateway no longer trusts
      return send(method, path, { ...options, retried: true });
    }
    throw err;
  }
}

/* ---- the session: tokens in memory, renewed one at a time -------------------------------------------- */

function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));  // read, not verified: the gateway verifies it on every call
  } catch {
    return {};
  }
}

function startSession(answer, typedName) {
  const ttl = Number(answer.expires_in) || 60;
  shop.session = {
    user: claimsOf(answer.access_token).sub || typedName.toLowerCase(),
    access: answer.access_token,
    refresh: answer.refresh_token || (shop.session && shop.session.refresh),
    expiresAt: Date.now() + ttl * 1000,
    ttl,
  };
}

function expiringSoon() {
  // renew when less than a fifth of its life (at most 10 s) is left
  const margin = Math.min(10000, shop.session.ttl * 200);
  return Date.now() > shop.session.expiresAt - margin;
}

function renew() {
  if (!shop.renewing) {
    shop.renewing = (async () => {
      try {
        if (!shop.session || !shop.session.refresh) {
          throw new ShopError(400, "there is no refresh token to renew the session with");
        }
        const answer = await send("POST", "/api/token", {
          form: { grant_type: "refresh_token", refresh_token: shop.session.refresh }, auth: false });
        if (!shop.session) throw new ShopError(401, "you signed out", { ended: true });  // while it renewed
        startSession(answer, shop.session.user);
        shop.renewals += 1;
        showSession();
      } catch (err) {
        if (err.status >= 400 && err.status < 500 && err.status !== 429) {  // refused: the session is over
          endSession();
          throw new ShopError(401, `your session has ended (${err.message})`, { ...err.details, ended: true });
        }
        throw err;  // the network or the provider failed: keep the session, a later call tries again
      } finally {
        shop.renewing = null;
      }
    })();
  }
  return shop.renewing;
}

function endSession() {
  shop.session = null;
  for (const timer of shop.timers.values()) clearTimeout(timer);
  shop.timers.clear();
  shop.cart = [];
  showSession();
}

function showSession() {
  const signedIn = shop.session !== null;
  const line = $("session");
  line.textContent = signedIn ? `Signed in as ${shop.session.user}.` : "Not signed in.";
  line.dataset.renewals = String(shop.renewals);
  $("logout").hidden = !signedIn;
  $("login-section").hidden = signedIn;
  $("cart-section").hidden = !signedIn;
  $("orders-section").hidden = !signedIn || shop.orders.size === 0;
}

/* ---- telling the user what went wrong ---------------------------------------------------------------- */

function explain(err, doing) {
  const d = err.details || {};
  const ref = d.requestId ? ` (request id ${d.requestId})` : "";
  const wait = d.retryAfter ? ` The gateway asks you to wait ${d.retryAfter} s before trying again.` : "";
  if (!(err instanceof ShopError)) return `Could not ${doing}: the page failed (${err.message}).`;
  if (d.network) {
    return `Could not ${doing}: ${err.message}. The network may be down or the gateway stopped; `
      + "check your connection and try again.";
  }
  if (doing === "sign in" && (d.error === "invalid_grant" || err.status === 401)) {
    return `Could not sign in: wrong username or password (${err.status}).`;
  }
  switch (true) {
    case err.status === 401:
      return `Could not ${doing}: you are not signed in, or your session has ended (401: ${err.message}). `
        + `Please sign in again.${ref}`;
    case err.status === 403:
      return `Could not ${doing}: you are not allowed to (403: ${err.message}).${ref}`;
    case err.status === 404:
      return `Could not ${doing}: not found (404: ${err.message}).${ref}`;
    case err.status === 429:
      return `Could not ${doing}: too many requests (429: ${err.message}).${wait}${ref}`;
    case err.status >= 500:
      return `Could not ${doing}: the shop's back end failed (${err.status}: ${err.message}). `
        + `Please try again in a moment.${wait}${ref}`;
    default:
      return `Could not ${doing} (${err.status}: ${err.message}).${ref}`;
  }
}

function showProblem(text) {
  $("problem-text").textContent = text;
  $("problem").hidden = false;
}

function clearProblem() {
  $("problem").hidden = true;
  $("problem-text").textContent = "";
}

function notify(text) {
  $("notice").textContent = text;
}

async function act(doing, work, button, section) {
  // One user action: its button disabled while it runs, its section busy, and any failure shown, in words.
  clearProblem();
  if (button) button.disabled = true;
  if (section) section.setAttribute("aria-busy", "true");
  try {
    await work();
  } catch (err) {
    showProblem(explain(err, doing));
    if (err.details && err.details.ended) $("username").focus();
  } finally {
    if (button) button.disabled = false;
    if (section) section.setAttribute("aria-busy", "false");
  }
}

/* ---- the shop: products, cart, checkout, orders ------------------------------------------------------ */

async function signIn(event) {
  event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    clearProblem();
    showProblem("Enter your username and your password to sign in.");
    return;
  }
  await act("sign in", async () => {
    const answer = await send("POST", "/api/token", {
      form: { grant_type: "password", username, password }, auth: false });
    startSession(answer, username);
    $("password").value = "";
    showSession();
    notify(`Welcome, ${shop.session.user}.`);
    await loadCart();
    $("products-title").focus();
  }, $("login-button"), $("login-section"));
}

async function signOut() {
  await act("sign out", async () => {
    const refresh = shop.session && shop.session.refresh;
    endSession();  // forgotten here whatever happens next
    shop.orders.clear();
    renderOrders();
    if (refresh) await send("POST", "/api/revoke", { form: { token: refresh }, auth: false });
    notify("Signed out.");
  }, $("logout"));
}

async function loadProducts() {
  const answer = await api("GET", "/api/products");
  shop.products = new Map(answer.products.map((p) => [p.id, p]));
  renderProducts();
  renderCart();
}

function renderProducts() {
  const list = $("products");
  list.replaceChildren();
  for (const product of shop.products.values()) {
    const item = document.createElement("li");
    item.dataset.productId = String(product.id);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = product.name;
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = money(product.price_cents);
    const label = document.createElement("label");
    const inputId = `qty-${product.id}`;
    label.htmlFor = inputId;
    label.textContent = `Quantity of ${product.name}`;
    const qty = document.createElement("input");
    Object.assign(qty, { id: inputId, type: "number", min: "1", max: "1000", value: "1", className: "qty" });
    const add = document.createElement("button");
    add.type = "button";
    add.textContent = "Add to cart";
    add.setAttribute("aria-label", `Add ${product.name} to cart`);
    add.addEventListener("click", () => addToCart(product, qty, add));
    const field = document.createElement("div");
    field.append(label, qty);
    item.append(name, price, field, add);
    list.append(item);
  }
}

async function addToCart(product, qtyInput, button) {
  const doing = `add ${product.name} to your cart`;
  if (!shop.session) {
    clearProblem();
    showProblem(`Sign in first to ${doing}.`);
    $("username").focus();
    return;
  }
  const wanted = Number.parseInt(qtyInput.value, 10);
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > 1000) {
    clearProblem();
    showProblem(`Could not ${doing}: the quantity must be a whole number from 1 to 1000.`);
    qtyInput.focus();
    return;
  }
  await act(doing, async () => {
    const inCart = shop.cart.find((i) => i.product_id === product.id);
    const quantity = Math.min(1000, wanted + (inCart ? inCart.quantity : 0));
    const answer = await api("PUT", `/api/carts/${encodeURIComponent(shop.session.user)}/items/${product.id}`,
      { body: { quantity } });
    shop.cart = answer.items;
    renderCart();
    notify(`${product.name} is in your cart (${quantity}).`);
  }, button, $("products-section"));
}

async function loadCart() {
  const answer = await api("GET", `/api/carts/${encodeURIComponent(shop.session.user)}`);
  shop.cart = answer.items;
  renderCart();
}

async function removeFromCart(item, button) {
  const name = nameOf(item.product_id);
  await act(`remove ${name} from your cart`, async () => {
    const answer = await api("DELETE",
      `/api/carts/${encodeURIComponent(shop.session.user)}/items/${item.product_id}`);
    shop.cart = answer.items;
    renderCart();
    notify(`${name} left your cart.`);
  }, button, $("cart-section"));
}

function nameOf(productId) {
  const product = shop.products.get(productId);
  return product ? product.name : `product ${productId}`;
}

function renderCart() {
  const body = $("cart-items");
  body.replaceChildren();
  let total = 0;
  for (const item of shop.cart) {
    const product = shop.products.get(item.product_id);
    const row = document.createElement("tr");
    row.dataset.productId = String(item.product_id);
    const cells = [nameOf(item.product_id), String(item.quantity),
      product ? money(product.price_cents * item.quantity) : "?"];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    if (product) total += product.price_cents * item.quantity;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${nameOf(item.product_id)} from cart`);
    remove.addEventListener("click", () => removeFromCart(item, remove));
    const cell = document.createElement("td");
    cell.append(remove);
    row.append(cell);
    body.append(row);
  }
  const empty = shop.cart.length === 0;
  $("cart-empty").hidden = !empty;
  $("cart-table").hidden = empty;
  $("checkout").disabled = empty;
  $("cart-total").textContent = empty ? "" : `Total: ${money(total)}`;
}

function newKey() {
  // an Idempotency-Key: 128 random bits (crypto.randomUUID needs a secure context; this does not)
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function checkout() {
  await act("check out", async () => {
    await loadCart();  // what the cart service holds, not what this page remembers
    if (shop.cart.length === 0) {
      notify("Your cart is empty: nothing to check out.");
      return;
    }
    const user = encodeURIComponent(shop.session.user);
    for (const item of [...shop.cart]) {
      // the same key for this order until its item has left the cart: a retry after a lost answer (or a
      // failure half-way) asks for the same order again, and orders answers with the first one
      const what = `${item.product_id}:${item.quantity}`;
      if (!shop.orderKeys.has(what)) shop.orderKeys.set(what, newKey());
      const order = await api("POST", "/api/orders", {
        body: { product_id: item.product_id, quantity: item.quantity },
        headers: { "Idempotency-Key": shop.orderKeys.get(what) } });
      trackOrder(order);
      const answer = await api("DELETE", `/api/carts/${user}/items/${item.product_id}`);
      shop.orderKeys.delete(what);
      shop.cart = answer.items;
      renderCart();
    }
    notify("Thank you: your order is placed. Its status changes below as the shop confirms it.");
    $("orders-title").focus();
  }, $("checkout"), $("cart-section"));
}

function trackOrder(order) {
  shop.orders.set(order.id, order);
  renderOrders();
  if (order.status === "pending" && !shop.timers.has(order.id)) follow(order.id, Date.now(), shop.config.poll_ms);
}

function follow(orderId, since, delay) {
  // Ask the gateway for a pending order's status until it is settled (or FOLLOW_FOR_MS have passed).
  const timer = setTimeout(async () => {
    shop.timers.delete(orderId);
    if (!shop.session) return;
    let next = shop.config.poll_ms;
    try {
      const order = await api("GET", `/api/orders/${orderId}`);
      shop.orders.set(order.id, order);
      renderOrders();
      if (order.status !== "pending") {
        notify(`Order #${order.id} is ${order.status}.`);
        return;
      }
    } catch (err) {
      showProblem(explain(err, `follow order #${orderId}`));
      if (!shop.session) return;
      const asked = Number(err.details && err.details.retryAfter);
      next = asked > 0 ? asked * 1000 : Math.min(5000, delay * 2);  // back off; as long as the gateway asks
    }
    if (Date.now() - since > FOLLOW_FOR_MS) {
      showProblem(`Order #${orderId} is still pending after ${FOLLOW_FOR_MS / 1000} s; `
        + "look again later (refresh the page and sign in).");
      return;
    }
    follow(orderId, since, next);
  }, delay);
  shop.timers.set(orderId, timer);
}

function renderOrders() {
  const list = $("orders");
  list.replaceChildren();
  const newest = [...shop.orders.values()].sort((a, b) => b.id - a.id);
  for (const order of newest) {
    const item = document.createElement("li");
    item.dataset.orderId = String(order.id);
    const status = document.createElement("span");
    status.className = "status";
    status.dataset.status = order.status;
    status.textContent = order.status;
    const text = document.createElement("span");
    text.textContent = ` Order #${order.id}: ${order.product_name} × ${order.quantity}, ${money(order.total_cents)}`;
    item.append(status, text);
    list.append(item);
  }
  $("orders-section").hidden = !shop.session || shop.orders.size === 0;
}

/* ---- start ------------------------------------------------------------------------------------------- */

async function start() {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
  $("problem-dismiss").addEventListener("click", clearProblem);
  $("products-refresh").addEventListener("click",
    () => act("load the products", loadProducts, $("products-refresh"), $("products-section")));
  $("cart-refresh").addEventListener("click",
    () => act("load your cart", loadCart, $("cart-refresh"), $("cart-section")));
  $("checkout").addEventListener("click", checkout);
  showSession();
  try {
    const answer = await fetch("config.json", { cache: "no-cache" });  // this page's own origin
    if (!answer.ok) throw new Error(`config.json answered ${answer.status}`);
    shop.config = await answer.json();
  } catch (err) {
    showProblem(`This page could not load its settings (config.json) from its own origin: ${err.message}.`);
    return;
  }
  if (!shop.config.gateway_url) {
    showProblem("This shop does not know where the gateway is: its origin has no gateway_url "
      + "(set it with PUT /_web/config {\"gateway_url\": ...}, or launch it with gateway_url=...).");
    return;
  }
  document.body.dataset.ready = "true";
  await act("load the products", loadProducts, $("products-refresh"), $("products-section"));
}

start();
