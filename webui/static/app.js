// mcpauthd's local web page. State arrives whole over server-sent events
// (/api/events, "state"); actions are POSTs carrying the session's CSRF
// token. Every value from the daemon is put in the page as text, never as
// HTML.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
let last = null; // the latest State
let pending = null; // {url, seen}: the sign-in this page started; seen once it showed as signing in

const STATUS = {
  signed_out: "Signed out", signing_in: "Signing in…", signed_in: "Signed in", refreshing: "Refreshing…",
  needs_sign_in: "Needs sign-in", error: "Error", public: "No sign-in needed",
};
const GRANT = {
  client_credentials: "Client credentials (no browser)", jwt_bearer: "Workload identity (no browser)", enterprise: "Company SSO (no browser)",
};
const REGISTRATION = {
  preregistered: "Pre-registered client", cimd: "Client ID metadata document", dynamic: "Dynamic registration",
};

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
function relative(ts) {
  const s = (new Date(ts).getTime() - Date.now()) / 1000;
  const a = Math.abs(s);
  if (a < 45) return rtf.format(Math.round(s), "second");
  if (a < 90 * 60) return rtf.format(Math.round(s / 60), "minute");
  if (a < 36 * 3600) return rtf.format(Math.round(s / 3600), "hour");
  return rtf.format(Math.round(s / 86400), "day");
}
function when(ts) {
  return el("span", { title: new Date(ts).toLocaleString() }, relative(ts));
}

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch { /* a plain-text refusal */ }
  if (!res.ok) throw new Error((data && data.message) || text.trim() || res.statusText);
  return data;
}

// notice shows msg; kind is "error", "ok" or "" (information).
function notice(msg, kind, link) {
  const n = $("notice");
  n.replaceChildren(msg);
  if (link && /^https?:\/\//.test(link)) {
    n.append(" ", el("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, "Open the sign-in page"));
  }
  n.classList.toggle("error", kind === "error");
  n.classList.toggle("ok", kind === "ok");
  n.hidden = false;
}

function fact(label, value) {
  return el("div", null, el("dt", null, label), el("dd", null, value));
}
function none(text) { return el("span", { class: "none" }, text); }

function tokenFact(s) {
  if (s.status === "public") return none("not needed");
  if (!s.token_expiry) return none("none");
  const exp = new Date(s.token_expiry);
  const span = el("span", { title: exp.toLocaleString() },
    (exp > Date.now() ? "expires " : "expired ") + relative(s.token_expiry));
  return el("span", null, span, s.has_refresh_token ? " · refreshable" : "");
}

function scopesFact(s) {
  const scopes = s.scopes_granted || [];
  if (!scopes.length) return none(s.status === "signed_in" ? "none stated" : "—");
  return el("span", null, ...scopes.map((sc) => el("span", { class: "chip" }, sc)));
}

function button(label, actionName, url, cls, account) {
  const b = el("button", { type: "button", class: cls || "", "data-action": actionName, "data-url": url }, label);
  if (account) b.dataset.account = account;
  return b;
}

// accountsPart lists the server's accounts (sign-ins) with their state,
// each with its own actions, and a field to sign in to another one
// (mcpauthd login URL --account NAME). The card's facts above are the
// default account's.
function accountsPart(s) {
  const accounts = s.accounts || [];
  const rows = accounts.length > 1 ? accounts.map((a) => {
    const acts = el("span", { class: "account-actions" });
    const on = a.status === "signed_in" || a.status === "refreshing";
    if (!a.default && on) acts.append(button("Make default", "account-default", s.url, "", a.name));
    if (on) acts.append(button("Sign out", "logout", s.url, "", a.name));
    else if (a.status !== "signing_in") acts.append(button("Sign in", "login", s.url, "", a.name));
    return el("li", { class: "account", "data-account": a.name },
      el("b", null, a.name), a.default ? " (default) " : " ",
      el("span", { class: "badge " + a.status }, STATUS[a.status] || a.status),
      a.login_hint ? el("span", { class: "url" }, " " + a.login_hint) : null,
      a.token_expiry && on ? el("span", null, " · expires ", when(a.token_expiry)) : null,
      " ", acts);
  }) : [];
  if (s.grant || s.status === "public") return rows.length ? el("ul", { class: "accounts" }, ...rows) : null;
  const name = el("input", { type: "text", class: "account-name", placeholder: "account name (e.g. work)", maxLength: 64 });
  const add = button("Sign in to another account", "login-account", s.url);
  return el("div", { class: "accounts-part" },
    rows.length ? el("ul", { class: "accounts" }, ...rows) : null,
    el("div", { class: "add-account" }, name, " ", add));
}

function serverCard(s) {
  const busy = s.status === "signing_in" || s.status === "refreshing";
  const signedIn = s.status === "signed_in" || s.status === "refreshing";
  const actions = el("div", { class: "actions" });
  if (signedIn) {
    if (s.has_refresh_token) actions.append(button("Refresh", "refresh", s.url));
    actions.append(button("Reveal token", "reveal", s.url), button("Sign out", "logout", s.url));
  } else if (s.status !== "public") {
    const b = button(busy ? "Signing in…" : "Sign in", "login", s.url, "primary");
    b.disabled = busy;
    actions.append(b);
  }
  actions.append(button("Tools…", "tools", s.url));
  actions.append(button("Remove", "remove", s.url, "danger"));
  for (const b of actions.querySelectorAll("button")) if (busy && b.dataset.action !== "remove") b.disabled = true;

  const bad = s.status === "error" || s.status === "needs_sign_in";
  return el("article", { class: "card server", "data-url": s.url, "data-status": s.status },
    el("div", { class: "head" },
      el("div", null, el("div", { class: "name" }, s.name || s.url), s.name ? el("div", { class: "url" }, s.url) : null),
      el("span", { class: "badge " + s.status }, STATUS[s.status] || s.status)),
    s.status_message ? el("p", { class: "msg" + (bad ? " bad" : "") }, s.status_message) : null,
    el("dl", { class: "facts" },
      fact("Access token", tokenFact(s)),
      fact("Granted scopes", scopesFact(s)),
      fact("Signed in", s.signed_in_at && s.status !== "signed_out" ? when(s.signed_in_at) : none("—")),
      fact("Issuer", s.issuer ? el("span", { class: "url" }, s.issuer) : none("—")),
      fact("Client", s.registration ? (REGISTRATION[s.registration] || s.registration) : none("—")),
      fact("Sign-in", grantFact(s)),
      s.provider ? fact("Provider", s.provider) : null,
      fact("Tools", s.tools && s.tools.length ? el("span", { title: s.tools.join(", ") }, String(s.tools.length)) : none("—")),
      fact("Tool policy", policyFact(s.tool_policy, last.deny_tools, s.app_tool_policies))),
    accountsPart(s),
    actions);
}

// policyFact shows the tools apps may not see or call: the server's policy
// (mcpauthd tools URL), the deny_tools setting's patterns (every server),
// and apps' own policies on top (mcpauthd tools URL --app).
function policyFact(p, everywhere, apps) {
  const parts = [];
  if (p && (p.allow || []).length) parts.push("allow " + p.allow.join(", "));
  if (p && (p.deny || []).length) parts.push("deny " + p.deny.join(", "));
  if ((everywhere || []).length) parts.push("deny " + everywhere.join(", ") + " (deny_tools setting, every server)");
  for (const a of apps || []) {
    const own = [];
    if ((a.policy.allow || []).length) own.push("allow " + a.policy.allow.join(", "));
    if ((a.policy.deny || []).length) own.push("deny " + a.policy.deny.join(", "));
    parts.push("for " + a.name + ": " + own.join(", "));
  }
  if (!parts.length) return none("all tools allowed");
  return parts.join("; ");
}

// editTools asks for the server's allow and deny patterns ('*' is a
// wildcard) and stores them.
async function editTools(url) {
  const s = last && last.servers.find((x) => x.url === url);
  const app = prompt("For one app only? Its program's path (as Apps shows it) or an app key's name; empty: for every app:", "");
  if (app === null) return;
  const own = app.trim() && s && (s.app_tool_policies || []).find((a) => a.app === app.trim() || a.name === app.trim() || a.app === "key:" + app.trim() || a.app === "exe:" + app.trim());
  const p = (app.trim() ? own && own.policy : s && s.tool_policy) || {};
  const deny = prompt("Tools apps may not see or call, comma-separated ('*' is a wildcard, e.g. delete*):", (p.deny || []).join(", "));
  if (deny === null) return;
  const allow = prompt("Only these tools (empty: all but the denied ones), comma-separated:", (p.allow || []).join(", "));
  if (allow === null) return;
  const list = (v) => v.split(",").map((x) => x.trim()).filter((x) => x);
  await post("/api/tools", { url, app: app.trim(), allow: list(allow), deny: list(deny) });
  notice("Tool policy of " + url + (app.trim() ? " for " + app.trim() : "") + " saved.", "ok");
}

// grantFact shows how the server's tokens are obtained, and whether they
// are DPoP-bound (apps must then go through mcpauthd, which signs proofs).
function grantFact(s) {
  const how = s.grant ? (GRANT[s.grant] || s.grant) : "Browser";
  if (!s.dpop) return how;
  return el("span", null, how + " ", el("span", { class: "badge dpop", title: "Tokens are bound to a key only mcpauthd holds: apps use mcpauthd proxy or the local reverse proxy" }, "DPoP-bound"));
}

function basename(p) { return p.split(/[\\/]/).pop() || p; }

// shownServers is the server list the cards were last built from: cards are
// rebuilt only when it changes (or, for relative times, on the timer), so a
// burst of hand-outs does not replace a button under the user's click.
let shownServers = "";

// idpCard is one company sign-in: the IdP, the account, its state, its
// servers, and a sign-out of it (and of all its servers).
function idpCard(p) {
  const out = el("button", { type: "button", class: "danger", "data-idp": p.issuer, "data-client": p.client_id }, "Sign out of it and its servers");
  return el("article", { class: "card server", "data-status": p.status },
    el("div", { class: "head" },
      el("div", null, el("div", { class: "name" }, "Company sign-in at " + p.issuer), el("div", { class: "url" }, (p.account ? p.account + " · " : "") + "client " + p.client_id)),
      el("span", { class: "badge " + p.status }, STATUS[p.status] || p.status)),
    p.status_message ? el("p", { class: "msg bad" }, p.status_message) : null,
    el("dl", { class: "facts" },
      fact("Servers", (p.servers || []).length ? el("span", null, (p.servers || []).join(", ")) : none("—")),
      fact("Signed in", p.signed_in_at && p.status !== "signed_out" ? when(p.signed_in_at) : none("—"))),
    el("div", { class: "actions" }, p.status === "signed_out" ? null : out));
}

function render(force) {
  if (!last) return;
  const idps = last.idps || [];
  $("idps-section").hidden = idps.length === 0;
  $("idps").replaceChildren(...idps.map(idpCard));
  const names = new Map(last.servers.map((s) => [s.url, s.name || s.url]));
  const key = JSON.stringify(last.servers);
  if (force === true || key !== shownServers) {
    shownServers = key;
    $("servers").replaceChildren(...last.servers.map(serverCard));
  }
  $("no-servers").hidden = last.servers.length > 0;
  const rows = last.audit.map((a) => el("tr", null,
    el("td", null, when(a.time)),
    el("td", { title: a.server }, (names.get(a.server) || a.server) + (a.account && a.account !== "default" ? " · " + a.account : "")),
    el("td", { class: "exe", title: a.program || a.exe || "" },
      (a.app ? "app " + a.app : a.program ? basename(a.program) : a.exe ? basename(a.exe) : "unknown") +
      (a.action !== "token" ? " (" + a.action.replace("_", " ") + ")" : "") + (a.count > 1 ? " ×" + a.count : "")),
    el("td", { class: "num" }, a.pid ? String(a.pid) : "—")));
  $("audit").tBodies[0].replaceChildren(...rows);
  $("audit").hidden = rows.length === 0;
  $("no-audit").hidden = rows.length > 0;
  $("no-audit").textContent = last.audit_error || "No tokens handed out yet.";
  renderApproval(names);
  followSignIn();
}

// DECISION labels an app's kept decision.
const DECISION = { always: "Always allowed", deny: "Denied", once: "Allowed while it runs" };

// shownPending is the pending list the cards were built from (rebuilt only
// when it changes, so a click never lands on a replaced button).
let shownPending = "";

// renderApproval shows the requests waiting for approval, each with Allow
// once / Always allow / Deny, and the apps list with Revoke per pair.
function renderApproval(names) {
  const pend = last.pending || [];
  const key = JSON.stringify(pend);
  if (key !== shownPending) {
    shownPending = key;
    $("pending").replaceChildren(...pend.map((p) => el("article", { class: "card server approval", "data-id": p.id },
      el("div", { class: "head" },
        el("div", null,
          el("div", { class: "name" }, p.name + " asks for your token"),
          el("div", { class: "url" }, names.get(p.server) || p.server)),
        el("span", { class: "badge signing_in" }, "Waiting")),
      el("dl", { class: "facts" },
        fact("Program", el("span", { class: "url" }, p.exe || p.app)),
        fact("Server", el("span", { class: "url" }, p.server)),
        fact("Request", p.id + (p.sensitive ? " (sensitive server: asks every time)" : ""))),
      el("div", { class: "actions" },
        decideButton("Allow once", p.id, "once", "primary"),
        p.sensitive ? null : decideButton("Always allow", p.id, "always", ""),
        decideButton("Deny", p.id, "deny", "danger")))));
  }
  $("pending-section").hidden = pend.length === 0;
  const apps = last.apps || { mode: "off", apps: [] };
  const rows = (apps.apps || []).map((a) => el("tr", null,
    el("td", { class: "exe", title: a.app }, a.name),
    el("td", { title: a.server }, names.get(a.server) || a.server),
    el("td", null, a.decision ? DECISION[a.decision] + (a.account ? " (account " + a.account + ")" : "") : "—"),
    el("td", null, a.last_used ? when(a.last_used) : "—"),
    el("td", { class: "num" }, a.count ? String(a.count) : "—"),
    el("td", { class: "num" }, a.decision ? revokeButton(a) : null)));
  $("apps").tBodies[0].replaceChildren(...rows);
  $("apps").hidden = rows.length === 0;
  $("apps-mode").textContent = apps.mode === "ask"
    ? (rows.length ? "" : "No app has asked for a token yet.")
    : "Approval is off: every program of yours gets tokens. Set approval = \"ask\" in the settings to be asked first.";
  $("apps-mode").hidden = $("apps-mode").textContent === "";
}

function decideButton(label, id, decision, cls) {
  const b = el("button", { type: "button", class: cls, "data-decide": decision, "data-id": id }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await post("/api/approve", { id, decision }); } catch (e) { notice(e.message, "error"); b.disabled = false; }
  });
  return b;
}

function revokeButton(a) {
  const b = el("button", { type: "button", class: "danger", "data-revoke": a.app }, "Revoke");
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await post("/api/revoke", { app: a.app, url: a.server }); } catch (e) { notice(e.message, "error"); b.disabled = false; }
  });
  return b;
}

function connect() {
  const conn = $("conn");
  const es = new EventSource("/api/events");
  es.addEventListener("state", (ev) => {
    last = JSON.parse(ev.data);
    conn.dataset.state = "live";
    conn.textContent = "Live";
    render();
  });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      conn.dataset.state = "closed";
      conn.textContent = "Disconnected — run mcpauthd ui to open the page again";
    } else {
      conn.dataset.state = "reconnecting";
      conn.textContent = "Reconnecting…";
    }
  };
}

async function runAction(b) {
  const url = b.dataset.url;
  const act = b.dataset.action;
  if (act === "remove" && !b.classList.contains("confirm")) {
    b.classList.add("confirm");
    b.textContent = "Click again to remove";
    setTimeout(() => { b.classList.remove("confirm"); b.textContent = "Remove"; }, 4000);
    return;
  }
  b.disabled = true;
  try {
    if (act === "tools") { await editTools(url); return; }
    let account = b.dataset.account || "";
    if (act === "login-account") {
      account = b.closest(".add-account").querySelector(".account-name").value.trim();
      if (!account) { notice("Name the account to sign in to (a label of yours, e.g. work).", "error"); return; }
      const fresh = !(last && last.servers.some((x) => x.url === url && (x.accounts || []).some((a) => a.name === account)));
      const since = Date.now();
      const res = await post("/api/login", { url, account });
      signingIn(url, res, account, fresh, since);
      return;
    }
    const since = Date.now();
    const res = await post("/api/" + act, account ? { url, account } : { url });
    if (act === "login") {
      const s = last && last.servers.find((x) => x.url === url);
      if (s && s.grant) signedInWithout(url, res);
      else signingIn(url, res, account, false, since);
    }
    if (act === "reveal") showToken(url, res);
  } catch (e) {
    notice(e.message, "error");
  } finally {
    b.disabled = false;
  }
}

// signingIn follows the sign-in to url (its account, when named). fresh:
// the account did not exist before this sign-in, so whatever state it
// shows is this sign-in's (it may have ended before the answer came).
// since: when the request was sent (ms); a sign-in completed after it is
// this one's, even when the page never saw it "signing_in" (the browser
// can approve before the daemon's answer reaches the page).
function signingIn(url, res, account, fresh, since) {
  const st = account ? "" : res && res.server && res.server.status;
  if (res && !res.auth_url && !res.user_code && st !== "signed_in" && st !== "public") {
    // It ended before a browser could open: say where it fails.
    notice("The sign-in to " + url + " could not start.", "error");
    showDoctor(url);
    render();
    return;
  }
  pending = { url, account, seen: Boolean(fresh), since: since || Infinity };
  notice("Signing in to " + url + ": approve it in the browser tab that opened.", "", res && res.auth_url);
  render();
}

// signedInWithout reports a sign-in without a browser: the daemon answers
// once it has ended.
function signedInWithout(url, res) {
  const s = res && res.server;
  if (s && s.status === "signed_in") notice("Signed in to " + (s.name || s.url) + " without a browser.", "ok");
  else notice((s && s.status_message) || "The sign-in to " + url + " did not finish.", "error");
  render();
}

// The add form's optional fields, by request key; each field's label says
// (data-grants, space-separated; a leading space stands for the browser
// sign-in, "") for which sign-ins it is shown. Hidden fields are not sent.
const FIELDS = {
  client_id: "add-client-id", client_secret: "add-client-secret", private_key: "add-private-key",
  provider: "add-provider", authorize_params: "add-authorize-params",
  assertion: "add-assertion",
  idp_issuer: "add-idp-issuer", idp_client_id: "add-idp-client-id", idp_client_secret: "add-idp-client-secret", id_token: "add-id-token",
};
const GRANT_HINT = {
  company: "You sign in at your company's identity provider in the browser once; every server of the company then gets its tokens without a browser, renewed by mcpauthd. Leave the IdP fields empty to use the company's settings (idp_issuer, idp_client_id).",
  client_credentials: "Tokens are obtained with the client's credentials, again whenever one expires.",
  jwt_bearer: "The JWT is kept as it is: once it expires, new tokens are refused until you paste a fresh one. For a token the platform rotates (a Kubernetes projected service-account token, a CI OIDC token), sign in from a terminal with mcpauthd login URL --jwt-bearer --assertion-file FILE: the daemon re-reads that file for every grant. The page never names files on disk.",
  enterprise: "Your ID token is exchanged at the IdP for the server's tokens, again whenever one expires. Once the ID token expires, add the server again with a fresh one.",
};

function shownFor(input, grant) {
  const label = input.closest("label[data-grants]");
  return !label || label.dataset.grants.split(" ").includes(grant);
}

function showGrantFields() {
  const grant = $("add-grant").value;
  for (const label of document.querySelectorAll("#add-form label[data-grants]")) {
    label.hidden = !label.dataset.grants.split(" ").includes(grant);
  }
  $("add-grant-hint").textContent = GRANT_HINT[grant] || "";
  $("add-grant-hint").hidden = !GRANT_HINT[grant];
}

function grantFields() {
  const grant = $("add-grant").value;
  const out = {};
  for (const [key, id] of Object.entries(FIELDS)) {
    if (shownFor($(id), grant)) out[key] = $(id).value;
  }
  return out;
}

// UPLOAD_LIMIT is the daemon's limit for a token or key (64 KiB).
const UPLOAD_LIMIT = 64 << 10;

// uploadInto puts the content of the file chosen in the file input into
// the text field: the page sends content, never a path. The file stays in
// the form field only.
function uploadInto(inputId, fieldId) {
  $(inputId).addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    ev.target.value = "";
    if (!f) return;
    if (f.size > UPLOAD_LIMIT) {
      notice(f.name + " is larger than 64 KiB: that is not a token or a key.", "error");
      return;
    }
    $(fieldId).value = await f.text();
  });
}

// followSignIn turns the "signing in" notice into the sign-in's outcome.
function followSignIn() {
  let s = pending && last.servers.find((x) => x.url === pending.url);
  if (s && pending.account) {
    const a = (s.accounts || []).find((x) => x.name === pending.account);
    s = a ? { ...s, ...a, name: (s.name || s.url) + " (account " + a.name + ")" } : null;
  }
  if (s && s.status === "signing_in") pending.seen = true;
  if (s && s.status === "signed_in" && s.signed_in_at && Date.parse(s.signed_in_at) >= pending.since) pending.seen = true;
  if (!s || !pending.seen || s.status === "signing_in") return;
  pending = null;
  if (s.status === "signed_in" || s.status === "public") notice("Signed in to " + (s.name || s.url) + ".", "ok");
  else notice(s.status_message || "The sign-in to " + s.url + " did not finish.", "error");
}

// showDoctor explains, under the add form, what a sign-in to url needs and
// the step where it fails (mcpauthd doctor), after a sign-in could not start.
async function showDoctor(url) {
  let r;
  try { r = await post("/api/doctor", { url }); } catch { return; }
  if (!r || !r.steps || !r.failed) return;
  const mark = { ok: "✓", info: "·", warn: "!", fail: "✗" };
  $("doctor").replaceChildren(
    el("h3", null, "What signing in to " + r.url + " needs"),
    el("ol", null, ...r.steps.map((s) => el("li", { class: "step " + s.outcome },
      el("span", { class: "mark" }, mark[s.outcome] || ""), " ", el("b", null, s.step), ": ", s.detail))));
  $("doctor").hidden = false;
}

function showToken(url, tok) {
  $("reveal-server").textContent = url;
  $("reveal-token").value = tok.access_token;
  $("reveal-expiry").textContent = tok.expiry ? "Expires " + relative(tok.expiry) + " (" + new Date(tok.expiry).toLocaleString() + ")" : "";
  $("reveal").showModal();
}

document.addEventListener("DOMContentLoaded", () => {
  $("servers").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (b) runAction(b);
  });
  $("add-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const submit = $("add-submit");
    const url = $("add-url").value.trim();
    submit.disabled = true;
    $("doctor").hidden = true;
    try {
      const grant = $("add-grant").value;
      const since = Date.now();
      const res = await post("/api/login", { url, scopes: $("add-scopes").value, grant, ...grantFields() });
      $("add-form").reset();
      showGrantFields();
      if (grant === "company" && res && res.auth_url) signingIn(url, res, "", false, since); // at the IdP
      else if (grant) signedInWithout(url, res);
      else signingIn(url, res, "", false, since);
    } catch (e) {
      notice(e.message, "error");
      showDoctor(url);
    } finally {
      submit.disabled = false;
    }
  });
  $("add-grant").addEventListener("change", showGrantFields);
  showGrantFields();
  $("idps").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-idp]");
    if (!b) return;
    b.disabled = true;
    try {
      const res = await post("/api/idp/logout", { issuer: b.dataset.idp, client_id: b.dataset.client });
      notice("Signed out of the company sign-in at " + b.dataset.idp + " and " + (res.servers || []).length + " server(s).", "ok");
    } catch (e) {
      notice(e.message, "error");
    } finally {
      b.disabled = false;
    }
  });
  // A server whose authorization server redeems the IdP's ID-JAGs gets the
  // company sign-in offered first.
  $("add-url").addEventListener("change", async () => {
    const url = $("add-url").value.trim();
    if (!url || !last || !last.company) return;
    let r;
    try { r = await post("/api/offer", { url }); } catch { return; }
    if (!r || !r.company || $("add-url").value.trim() !== url) return;
    const sel = $("add-grant");
    sel.prepend(sel.querySelector('option[value="company"]'));
    sel.value = "company";
    sel.closest("details").open = true;
    showGrantFields();
  });
  uploadInto("add-private-key-file", "add-private-key");
  uploadInto("add-assertion-upload", "add-assertion");
  const forget = () => { $("reveal-token").value = ""; };
  $("reveal").addEventListener("close", forget); // Escape, too
  $("reveal-close").addEventListener("click", () => { forget(); $("reveal").close(); });
  $("reveal-copy").addEventListener("click", async () => {
    await navigator.clipboard.writeText($("reveal-token").value).catch(() => $("reveal-token").select());
  });
  connect();
  setInterval(() => render(true), 30000); // relative times only; no fetching
});
