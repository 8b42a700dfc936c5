// The KMS web console: plain JavaScript, no build step. Every action is an
// API operation run as the signed-in principal (POST /console/api/call);
// the server answers exactly as the API does, errors included.
"use strict";

const S = { me: null, keysCursor: { markers: [null], index: 0 } };
const main = () => document.getElementById("main");

// ---------------------------------------------------------------- DOM helpers
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}
const svg = (tag, attrs) => {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
};
function render(...nodes) { const m = main(); m.replaceChildren(...nodes); }
function errorBox(e) {
  return h("div", { class: "error", role: "alert" }, h("strong", {}, e.type || "Error"), e.message || "");
}
function show(slot, node) { slot.replaceChildren(...(node ? [node] : [])); }
const badge = (text, cls) => h("span", { class: "badge " + (cls || text) }, text);
const date = (secs) => (secs ? new Date(secs * 1000).toISOString().replace(".000Z", "Z").replace("T", " ") : "—");
function field(label, input) { return h("label", {}, label, input); }

// ---------------------------------------------------------------- server calls
class ApiError extends Error {
  constructor(type, message) { super(message); this.type = type; }
}
async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (S.me) headers["X-CSRF-Token"] = S.me.csrfToken;
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}), credentials: "same-origin" });
  const text = await r.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch (_) { data = { text }; }
  // A 401 elsewhere than at sign-in: the session has ended.
  if (r.status === 401 && path !== "/console/api/signin") { S.me = null; signInPage(data.message); throw new ApiError(data.__type || "NotSignedIn", data.message || ""); }
  if (!r.ok) throw new ApiError(data.__type || ("HTTP " + r.status), data.message || "");
  return data;
}
/** One API operation: `TrentService.<Name>` or `KmsAdmin.<Name>`. */
const kms = (op, body) => post("/console/api/call", { target: "TrentService." + op, body: body || {} });
const admin = (op, body) => post("/console/api/call", { target: "KmsAdmin." + op, body: body || {} });
async function safely(slot, fn) {
  try { show(slot, null); return await fn(); } catch (e) { if (e instanceof ApiError || e.type) show(slot, errorBox(e)); else show(slot, errorBox({ type: "Error", message: String(e) })); return undefined; }
}
function confirmDialog(title, bodyNodes, okText) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-body").replaceChildren(...bodyNodes);
  document.getElementById("confirm-ok").textContent = okText || "Confirm";
  d.returnValue = "";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

// ---------------------------------------------------------------- sign-in
function signInPage(message) {
  document.getElementById("top").hidden = true;
  const slot = h("div", {}, message ? errorBox({ type: "Signed out", message }) : null);
  const ak = h("input", { id: "access-key-id", name: "accessKeyId", autocomplete: "username", required: true, spellcheck: "false" });
  const sk = h("input", { id: "secret-access-key", name: "secretAccessKey", type: "password", autocomplete: "current-password", required: true });
  const btn = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    const me = await safely(slot, () => post("/console/api/signin", { accessKeyId: ak.value.trim(), secretAccessKey: sk.value }));
    sk.value = "";
    btn.disabled = false;
    if (me) { S.me = me; started(); }
  } },
    field("Access key id", ak), field("Secret access key", sk), btn,
    h("p", { class: "muted" }, "Use an access key of this server (the bootstrap credentials, or a user's). The secret is checked by the server and kept nowhere in the browser; the session is a cookie that ends when idle."));
  render(h("section", { class: "panel signin" }, h("h1", {}, h("img", { src: "/console/icon.svg", alt: "", width: 28, height: 28 }), "Sign in to KMS"), slot, form));
  ak.focus();
}

function started() {
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = S.me.arn + (S.me.admin ? " (admin)" : "");
  if (!location.hash || location.hash === "#/") location.hash = "#/keys"; else route();
}

// ---------------------------------------------------------------- router
function route() {
  if (!S.me) return;
  const parts = (location.hash || "#/keys").slice(2).split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === parts[0]) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const pages = { keys: keysPage, create: createPage, key: keyPage, access: accessPage, audit: auditPage, health: healthPage };
  stopHealth();
  (pages[parts[0]] || keysPage)(...parts.slice(1));
  main().focus();
}
window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- keys
const PAGE = 25, SCAN = 500;
async function describePage(ids) {
  return Promise.all(ids.map(async (id) => {
    const [d, a, t] = await Promise.all([
      kms("DescribeKey", { KeyId: id }).catch((e) => ({ error: e })),
      kms("ListAliases", { KeyId: id }).catch(() => ({ Aliases: [] })),
      kms("ListResourceTags", { KeyId: id }).catch(() => ({ Tags: [] })),
    ]);
    return { id, meta: d.KeyMetadata, error: d.error, aliases: (a.Aliases || []).map((x) => x.AliasName), tags: t.Tags || [] };
  }));
}
function matches(k, f) {
  if (!k.meta) return !f.state && !f.spec && !f.alias && !f.tag;
  if (f.state && k.meta.KeyState !== f.state) return false;
  if (f.spec && k.meta.KeySpec !== f.spec) return false;
  if (f.alias && !k.aliases.some((a) => a.startsWith(f.alias.startsWith("alias/") ? f.alias : "alias/" + f.alias))) return false;
  if (f.tag) {
    const [tk, tv] = f.tag.split("=");
    if (!k.tags.some((t) => t.TagKey === tk.trim() && (tv === undefined || t.TagValue === tv.trim()))) return false;
  }
  return true;
}
function keysPage() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const f = { state: q.get("state") || "", spec: q.get("spec") || "", alias: q.get("alias") || "", tag: q.get("tag") || "" };
  const sel = (name, label, opts) => field(label, h("select", { name, id: "f-" + name }, h("option", { value: "" }, "Any"), opts.map((o) => h("option", { value: o, selected: f[name] === o }, o))));
  const form = h("form", { class: "row", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const el of form.elements) if (el.name && el.value) p.set(el.name, el.value);
    S.keysCursor = { markers: [null], index: 0 };
    const target = "#/keys?" + p.toString();
    if (location.hash === target) keysPage(); else location.hash = target;
  } },
    sel("state", "State", ["Enabled", "Disabled", "PendingDeletion", "PendingImport", "Unavailable"]),
    sel("spec", "Key spec", ["SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "SM2"]),
    field("Alias starts with", h("input", { name: "alias", id: "f-alias", value: f.alias, placeholder: "alias/app" })),
    field("Tag", h("input", { name: "tag", id: "f-tag", value: f.tag, placeholder: "team=payments" })),
    h("button", { type: "submit" }, "Filter"));
  const slot = h("div", {});
  const body = h("div", { class: "scroll" }, h("p", { class: "empty" }, "Loading keys…"));
  const pager = h("div", { class: "pager" });
  render(h("div", { class: "spread" }, h("h1", {}, "Keys"), h("a", { class: "button", href: "#/create" }, "Create key")),
    h("section", { class: "panel" }, form, slot, body, pager));
  loadKeys(f, slot, body, pager);
}
async function loadKeys(f, slot, body, pager) {
  const c = S.keysCursor;
  const filtered = f.state || f.spec || f.alias || f.tag;
  await safely(slot, async () => {
    let marker = c.markers[c.index], shown = [], scanned = 0, next = null;
    if (f.alias && f.alias.replace(/^alias\//, "")) {
      // By alias prefix: ListAliases is sorted by name, so the aliases that
      // start with it are one stretch, found from a marker just before it
      // (the cost of a page does not grow with the number of keys).
      const prefix = f.alias.startsWith("alias/") ? f.alias : "alias/" + f.alias;
      if (!marker) marker = prefix.slice(0, -1);
      const seen = new Set();
      for (;;) {
        const page = await kms("ListAliases", { Limit: 100, Marker: marker });
        const hits = [];
        let done = !page.Truncated;
        for (const a of page.Aliases || []) {
          marker = a.AliasName;
          if (a.AliasName < prefix) continue;
          if (!a.AliasName.startsWith(prefix)) { done = true; break; }
          if (a.TargetKeyId && !seen.has(a.TargetKeyId)) { seen.add(a.TargetKeyId); hits.push(a.TargetKeyId); }
          if (seen.size >= PAGE) break;
        }
        scanned += hits.length;
        for (const k of await describePage(hits)) if (matches(k, f)) shown.push(k);
        if (done) { next = null; break; }
        if (seen.size >= PAGE) { next = marker; break; }
        marker = page.NextMarker || marker;
      }
    } else do {
      // Page through ListKeys; describe only what is shown (and, with a
      // filter, what is scanned for it: at most SCAN keys per page).
      const page = await kms("ListKeys", { Limit: filtered ? 100 : PAGE, ...(marker ? { Marker: marker } : {}) });
      const ids = page.Keys.map((k) => k.KeyId);
      scanned += ids.length;
      const described = await describePage(ids);
      for (const k of described) if (matches(k, f)) shown.push(k);
      next = page.Truncated ? page.NextMarker : null;
      marker = next;
    } while (filtered && next && shown.length < PAGE && scanned < SCAN);
    const rows = shown.map((k) => h("tr", { class: "clickable", onclick: () => { location.hash = "#/key/" + encodeURIComponent(k.id); } },
      h("td", {}, h("a", { href: "#/key/" + encodeURIComponent(k.id) }, k.aliases[0] || k.id), k.aliases[0] ? h("div", { class: "muted mono" }, k.id) : null),
      h("td", {}, k.meta ? badge(k.meta.KeyState) : errorBox(k.error)),
      h("td", { class: "mono hide-sm" }, k.meta ? k.meta.KeySpec : ""),
      h("td", { class: "hide-sm" }, k.meta ? k.meta.KeyUsage : ""),
      h("td", { class: "hide-sm" }, k.meta ? (k.meta.Description || "") : ""),
      h("td", { class: "hide-sm" }, h("div", { class: "tags" }, k.tags.map((t) => h("span", { class: "chip" }, t.TagKey + "=" + t.TagValue))))));
    body.replaceChildren(rows.length
      ? h("table", { class: "keys" }, h("thead", {}, h("tr", {}, ["Key", "State", "Spec", "Usage", "Description", "Tags"].map((t, i) => h("th", { class: i > 1 ? "hide-sm" : null }, t)))), h("tbody", {}, rows))
      : h("p", { class: "empty" }, filtered ? "No key on this stretch matches the filter." : "No keys yet."));
    const prev = h("button", { type: "button", class: "ghost", disabled: c.index === 0, onclick: () => { c.index--; loadKeys(f, slot, body, pager); } }, "Previous");
    const nxt = h("button", { type: "button", class: "ghost", disabled: !next, onclick: () => { c.markers[c.index + 1] = next; c.index++; loadKeys(f, slot, body, pager); } }, "Next");
    pager.replaceChildren(h("span", { class: "muted" }, filtered ? `${shown.length} shown, ${scanned} scanned` : `Page ${c.index + 1}`), prev, nxt);
  });
}

// ---------------------------------------------------------------- create key
function parseLines(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const i = l.indexOf("=");
    return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
  });
}
function createPage() {
  const slot = h("div", {});
  const spec = h("select", { id: "c-spec" }, ["SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "SM2"].map((s) => h("option", {}, s)));
  const usage = h("select", { id: "c-usage" }, ["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"].map((s) => h("option", {}, s)));
  const desc = h("input", { id: "c-desc", maxlength: 8192 });
  const alias = h("input", { id: "c-alias", placeholder: "alias/my-app" });
  const tags = h("textarea", { id: "c-tags", rows: 3, placeholder: "team=payments\nenv=prod" });
  const policy = h("textarea", { id: "c-policy", class: "policy", rows: 8, placeholder: "Empty: the default key policy (the account may use the key)." });
  const multi = h("input", { type: "checkbox", id: "c-multi" });
  const btn = h("button", { type: "submit" }, "Create key");
  const form = h("form", { class: "form", onsubmit: async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    const req = { KeySpec: spec.value, KeyUsage: usage.value };
    if (desc.value) req.Description = desc.value;
    const t = parseLines(tags.value);
    if (t.length) req.Tags = t.map(([k, v]) => ({ TagKey: k, TagValue: v }));
    if (policy.value.trim()) req.Policy = policy.value;
    if (multi.checked) req.MultiRegion = true;
    const made = await safely(slot, async () => {
      const r = await kms("CreateKey", req);
      if (alias.value.trim()) {
        const name = alias.value.trim().startsWith("alias/") ? alias.value.trim() : "alias/" + alias.value.trim();
        try { await kms("CreateAlias", { AliasName: name, TargetKeyId: r.KeyMetadata.KeyId }); }
        catch (e) { location.hash = "#/key/" + r.KeyMetadata.KeyId; throw e; }
      }
      return r;
    });
    btn.disabled = false;
    if (made) location.hash = "#/key/" + made.KeyMetadata.KeyId;
  } },
    h("div", { class: "two" }, field("Key spec", spec), field("Key usage", usage)),
    field("Description", desc), field("Alias", alias), field("Tags (one key=value a line)", tags),
    field("Key policy (JSON)", policy),
    h("label", { class: "check" }, multi, "Multi-Region primary key"),
    h("div", {}, btn, " ", h("a", { class: "button ghost", href: "#/keys" }, "Cancel")));
  render(h("h1", {}, "Create key"), h("section", { class: "panel" }, slot, form));
}

// ---------------------------------------------------------------- key page
async function keyPage(id) {
  const slot = h("div", {});
  render(h("p", { class: "empty" }, "Loading…"), slot);
  const d = await safely(slot, () => kms("DescribeKey", { KeyId: id }));
  if (!d) { render(h("h1", {}, "Key"), slot, h("a", { href: "#/keys" }, "Back to keys")); return; }
  const m = d.KeyMetadata;
  const reload = () => keyPage(id);
  const [aliases, tags, policy, grants, rotation, rotations, usage] = await Promise.all([
    kms("ListAliases", { KeyId: m.KeyId }).catch((e) => ({ error: e })),
    kms("ListResourceTags", { KeyId: m.KeyId }).catch((e) => ({ error: e })),
    kms("GetKeyPolicy", { KeyId: m.KeyId, PolicyName: "default" }).catch((e) => ({ error: e })),
    kms("ListGrants", { KeyId: m.KeyId }).catch((e) => ({ error: e })),
    kms("GetKeyRotationStatus", { KeyId: m.KeyId }).catch((e) => ({ error: e })),
    kms("ListKeyRotations", { KeyId: m.KeyId }).catch((e) => ({ error: e })),
    admin("GetKeyUsage", { KeyId: m.KeyId }).catch((e) => ({ error: e })),
  ]);
  const name = (aliases.Aliases && aliases.Aliases[0] && aliases.Aliases[0].AliasName) || m.KeyId;
  const lastUse = usage.error ? "unknown (" + usage.error.type + ")" : usage.LastUsage
    ? `${usage.LastUsage.Operation} at ${date(usage.LastUsage.Timestamp)}${usage.LastUsage.Principal ? " by " + usage.LastUsage.Principal : ""}`
    : "never used since tracking started " + date(usage.TrackingStartDate);
  const act = (label, fn, cls) => h("button", { type: "button", class: cls || "ghost", onclick: async (ev) => {
    ev.target.disabled = true;
    const ok = await safely(slot, fn);
    ev.target.disabled = false;
    if (ok !== undefined) reload();
  } }, label);

  // Actions
  const actions = h("div", { class: "row" },
    m.KeyState === "Enabled" ? act("Disable key", () => kms("DisableKey", { KeyId: m.KeyId })) : null,
    m.KeyState === "Disabled" ? act("Enable key", () => kms("EnableKey", { KeyId: m.KeyId })) : null,
    m.KeyState === "PendingDeletion" ? act("Cancel deletion", () => kms("CancelKeyDeletion", { KeyId: m.KeyId })) : null,
    m.KeyState !== "PendingDeletion" ? h("button", { type: "button", class: "danger", id: "schedule-deletion", onclick: async () => {
      const days = h("input", { type: "number", min: 7, max: 30, value: 30, id: "pending-days" });
      const yes = await confirmDialog("Schedule deletion of " + name + "?", [
        h("p", {}, "Key ", h("code", {}, m.Arn), " will be deleted at the end of the waiting period; ciphertexts under it can then never be decrypted."),
        h("p", {}, h("strong", {}, "Last use: "), lastUse),
        field("Waiting period (days, 7 to 30)", days)], "Schedule deletion");
      if (yes && await safely(slot, () => kms("ScheduleKeyDeletion", { KeyId: m.KeyId, PendingWindowInDays: Number(days.value) })) !== undefined) reload();
    } }, "Schedule deletion") : null);

  const meta = h("dl", { class: "meta" }, [
    ["Key id", h("code", {}, m.KeyId)], ["ARN", h("code", {}, m.Arn)], ["State", badge(m.KeyState)],
    ["Spec", m.KeySpec], ["Usage", m.KeyUsage], ["Origin", m.Origin], ["Description", m.Description || "—"],
    ["Created", date(m.CreationDate)], ["Multi-Region", m.MultiRegion ? "yes" : "no"],
    m.DeletionDate ? ["Deletion date", date(m.DeletionDate)] : null, ["Last use", h("span", { id: "last-use" }, lastUse)],
  ].filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));

  // Aliases and tags
  const aliasInput = h("input", { id: "new-alias", placeholder: "alias/name", "aria-label": "New alias" });
  const aliasPanel = h("section", { class: "panel" }, h("h2", {}, "Aliases"),
    aliases.error ? errorBox(aliases.error) : h("div", { class: "tags" }, (aliases.Aliases || []).map((a) => h("span", { class: "chip" }, a.AliasName,
      h("button", { type: "button", "aria-label": "Delete " + a.AliasName, onclick: async () => { if (await safely(slot, () => kms("DeleteAlias", { AliasName: a.AliasName })) !== undefined) reload(); } }, "×")))),
    h("form", { class: "row", onsubmit: async (ev) => { ev.preventDefault(); const v = aliasInput.value.trim(); if (await safely(slot, () => kms("CreateAlias", { AliasName: v.startsWith("alias/") ? v : "alias/" + v, TargetKeyId: m.KeyId })) !== undefined) reload(); } },
      aliasInput, h("button", { type: "submit", class: "ghost" }, "Add alias")));
  const tagInput = h("input", { id: "new-tag", placeholder: "key=value", "aria-label": "New tag" });
  const tagPanel = h("section", { class: "panel" }, h("h2", {}, "Tags"),
    tags.error ? errorBox(tags.error) : h("div", { class: "tags" }, (tags.Tags || []).map((t) => h("span", { class: "chip" }, t.TagKey + "=" + t.TagValue,
      h("button", { type: "button", "aria-label": "Remove tag " + t.TagKey, onclick: async () => { if (await safely(slot, () => kms("UntagResource", { KeyId: m.KeyId, TagKeys: [t.TagKey] })) !== undefined) reload(); } }, "×")))),
    h("form", { class: "row", onsubmit: async (ev) => { ev.preventDefault(); const [[k, v]] = parseLines(tagInput.value || "="); if (await safely(slot, () => kms("TagResource", { KeyId: m.KeyId, Tags: [{ TagKey: k, TagValue: v }] })) !== undefined) reload(); } },
      tagInput, h("button", { type: "submit", class: "ghost" }, "Add tag")));

  // Policy editor: validated by PutKeyPolicy itself.
  const policyText = h("textarea", { id: "policy-editor", class: "policy", spellcheck: "false", wrap: "off", "aria-label": "Key policy" });
  policyText.value = policy.error ? "" : pretty(policy.Policy);
  const policySlot = h("div", {});
  const policyPanel = h("section", { class: "panel" }, h("div", { class: "spread" }, h("h2", {}, "Key policy"),
    h("div", { class: "row" },
      h("button", { type: "button", class: "ghost", onclick: () => { try { policyText.value = JSON.stringify(JSON.parse(policyText.value), null, 2); show(policySlot, null); } catch (e) { show(policySlot, errorBox({ type: "Not JSON", message: e.message })); } } }, "Format"),
      h("button", { type: "button", id: "save-policy", onclick: async () => {
        const ok = await safely(policySlot, () => kms("PutKeyPolicy", { KeyId: m.KeyId, PolicyName: "default", Policy: policyText.value }));
        if (ok !== undefined) show(policySlot, h("div", { class: "notice", role: "status" }, "Policy saved."));
      } }, "Save policy"))),
    policy.error ? errorBox(policy.error) : null, policySlot, policyText);

  // Grants
  const grantSlot = h("div", {});
  const grantee = h("input", { id: "grantee", placeholder: "arn:aws:iam::111122223333:user/app" });
  const opNames = ["Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "DescribeKey", "Sign", "Verify", "GenerateMac", "VerifyMac", "CreateGrant", "RetireGrant"];
  const opBoxes = opNames.map((o) => h("input", { type: "checkbox", value: o, id: "op-" + o }));
  const grantRows = (grants.Grants || []).map((g) => h("tr", {},
    h("td", { class: "mono" }, g.GrantId.slice(0, 16) + "…", g.Name ? h("div", { class: "muted" }, g.Name) : null),
    h("td", { class: "mono" }, g.GranteePrincipal), h("td", {}, (g.Operations || []).join(", ")),
    h("td", {}, h("div", { class: "row" },
      h("button", { type: "button", class: "ghost small", onclick: async () => { if (await safely(grantSlot, () => kms("RetireGrant", { KeyId: m.Arn, GrantId: g.GrantId })) !== undefined) reload(); } }, "Retire"),
      h("button", { type: "button", class: "ghost small", "aria-label": "Revoke grant " + g.GrantId, onclick: async () => { if (await safely(grantSlot, () => kms("RevokeGrant", { KeyId: m.KeyId, GrantId: g.GrantId })) !== undefined) reload(); } }, "Revoke")))));
  const grantPanel = h("section", { class: "panel" }, h("h2", {}, "Grants"), grantSlot,
    grants.error ? errorBox(grants.error) : grantRows.length ? h("div", { class: "scroll" }, h("table", { id: "grants" }, h("thead", {}, h("tr", {}, ["Grant", "Grantee", "Operations", ""].map((t) => h("th", {}, t)))), h("tbody", {}, grantRows))) : h("p", { class: "empty" }, "No grants."),
    h("form", { class: "form", onsubmit: async (ev) => {
      ev.preventDefault();
      const ops = opBoxes.filter((b) => b.checked).map((b) => b.value);
      if (await safely(grantSlot, () => kms("CreateGrant", { KeyId: m.KeyId, GranteePrincipal: grantee.value.trim(), Operations: ops })) !== undefined) reload();
    } }, h("h3", {}, "Create grant"), field("Grantee principal", grantee),
      h("fieldset", {}, h("legend", {}, "Operations"), h("div", { class: "ops" }, opBoxes.map((b) => h("label", { class: "check" }, b, b.value)))),
      h("div", {}, h("button", { type: "submit", id: "create-grant" }, "Create grant"))));

  // Rotation
  const rotPanel = h("section", { class: "panel" }, h("h2", {}, "Rotation"),
    rotation.error ? errorBox(rotation.error) : h("div", {},
      h("p", {}, "Automatic rotation: ", badge(rotation.KeyRotationEnabled ? "on" : "off", rotation.KeyRotationEnabled ? "ok" : ""),
        rotation.KeyRotationEnabled ? ` every ${rotation.RotationPeriodInDays} days, next ${date(rotation.NextRotationDate)}` : "",
        rotation.OnDemandRotationStartDate ? ` · on-demand rotation in progress since ${date(rotation.OnDemandRotationStartDate)}` : ""),
      h("div", { class: "row" },
        rotation.KeyRotationEnabled ? act("Turn off rotation", () => kms("DisableKeyRotation", { KeyId: m.KeyId })) : act("Turn on rotation", () => kms("EnableKeyRotation", { KeyId: m.KeyId })),
        act("Rotate now", () => kms("RotateKeyOnDemand", { KeyId: m.KeyId })))),
    rotations.error ? null : h("div", {}, h("h3", {}, "History"), (rotations.Rotations || []).length
      ? h("div", { class: "scroll" }, h("table", { id: "rotations" }, h("thead", {}, h("tr", {}, h("th", {}, "Rotated"), h("th", {}, "Type"), h("th", {}, "Material"))),
        h("tbody", {}, rotations.Rotations.map((r) => h("tr", {}, h("td", {}, date(r.RotationDate)), h("td", {}, r.RotationType), h("td", { class: "mono" }, (r.KeyMaterialId || "").slice(0, 16)))))))
      : h("p", { class: "empty" }, "Not rotated yet.")));

  render(h("p", {}, h("a", { href: "#/keys" }, "← Keys")),
    h("div", { class: "spread" }, h("h1", { id: "key-title" }, name, " ", badge(m.KeyState)), actions), slot,
    h("div", { class: "grid" }, h("section", { class: "panel" }, h("h2", {}, "Metadata"), meta), h("div", { class: "stack" }, aliasPanel, tagPanel)),
    h("div", { style: null }, h("br")), policyPanel, grantPanel, rotPanel);
}
/** A key ARN as `key/<id>` (the full ARN is in the record). */
const shortArn = (arn) => arn.replace(/^arn:[^:]+:kms:[^:]*:[0-9]*:key\//, "");
function pretty(text) { try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text || ""; } }

// ---------------------------------------------------------------- access
async function accessPage() {
  const slot = h("div", {});
  const users = h("div", {}, h("p", { class: "empty" }, "Loading…"));
  const roles = h("div", {});
  const sim = simulatorPanel();
  render(h("h1", {}, "Access"), slot, h("section", { class: "panel" }, h("h2", {}, "Users"), users), h("section", { class: "panel" }, h("h2", {}, "Roles"), roles), sim.panel);
  const [u, r] = await Promise.all([admin("ListUsers", {}).catch((e) => ({ error: e })), admin("ListRoles", {}).catch((e) => ({ error: e }))]);
  const policyView = h("div", {});
  if (u.error) users.replaceChildren(errorBox(u.error));
  else users.replaceChildren(h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", { class: "hide-sm" }, "Access keys"), h("th", {}, ""))),
    h("tbody", {}, u.Users.map((x) => h("tr", {}, h("td", {}, x.UserName, " ", x.Admin ? badge("admin", "warn") : null, h("div", { class: "muted mono" }, x.Arn)),
      h("td", { class: "mono hide-sm" }, x.AccessKeyIds.join(" ")),
      h("td", {}, h("button", { type: "button", class: "ghost small", onclick: () => showUserPolicies(x, policyView) }, "Policies"))))))), policyView);
  if (r.error) roles.replaceChildren(errorBox(r.error));
  else roles.replaceChildren(r.Roles.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Role"), h("th", {}, "Policies"))),
    h("tbody", {}, r.Roles.map((x) => h("tr", {}, h("td", {}, x.RoleName, h("div", { class: "muted mono" }, x.Arn)), h("td", {}, x.PolicyNames.join(", ") || "—"))))) : h("p", { class: "empty" }, "No roles."));
  const arns = [...(u.Users || []).map((x) => x.Arn), ...(r.Roles || []).map((x) => x.Arn)];
  sim.setPrincipals(arns);
}
async function showUserPolicies(user, view) {
  view.replaceChildren(h("p", { class: "empty" }, "Loading…"));
  try {
    const names = await admin("ListUserPolicies", { UserName: user.UserName, AccountId: user.AccountId });
    const docs = await Promise.all(names.PolicyNames.map((n) => admin("GetUserPolicy", { UserName: user.UserName, AccountId: user.AccountId, PolicyName: n })));
    view.replaceChildren(h("h3", {}, "Policies of " + user.UserName), docs.length ? docs.map((d) => h("div", {}, h("p", { class: "mono" }, d.PolicyName), h("pre", {}, pretty(d.PolicyDocument))))
      : h("p", { class: "empty" }, user.Admin ? "AdministratorAccess (admin user), no inline policies." : "No inline policies."));
  } catch (e) { view.replaceChildren(errorBox(e)); }
}
function simulatorPanel() {
  const slot = h("div", { id: "sim-result", "aria-live": "polite" });
  const list = h("datalist", { id: "principals" });
  const principal = h("input", { id: "sim-principal", list: "principals", required: true, placeholder: "arn:aws:iam::111122223333:user/alice" });
  const actions = h("datalist", { id: "actions" }, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateKey", "kms:ListKeys", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:Sign", "kms:CreateGrant"].map((a) => h("option", { value: a })));
  const action = h("input", { id: "sim-action", list: "actions", required: true, value: "kms:Decrypt" });
  const key = h("input", { id: "sim-key", placeholder: "key id, ARN or alias/… (empty for * actions)" });
  const ctx = h("textarea", { id: "sim-context", rows: 2, placeholder: "purpose=test (encryption context, one a line)" });
  const panel = h("section", { class: "panel" }, h("h2", {}, "Policy simulator"),
    h("p", { class: "muted" }, "The same authorization as a real call (key policy, identity policies, grants), without the call."),
    h("form", { class: "form", onsubmit: async (ev) => {
      ev.preventDefault();
      const req = { PrincipalArn: principal.value.trim(), Action: action.value.trim() };
      if (key.value.trim()) req.KeyId = key.value.trim();
      const ec = parseLines(ctx.value);
      if (ec.length) req.EncryptionContext = Object.fromEntries(ec);
      const r = await safely(slot, () => admin("Simulate", req));
      if (r) show(slot, h("div", { class: "panel" }, h("p", {}, h("span", { class: "stat" }, badge(r.Allowed ? "allowed" : "denied"))),
        h("p", {}, h("strong", {}, "Decided by: "), r.DecidedBy || "nothing allowed it (implicit deny)"), r.Message ? h("p", { class: "muted" }, r.Message) : null));
    } }, h("div", { class: "two" }, field("Principal", principal), field("Action", action)), field("Key", key), field("Context", ctx), list, actions,
      h("div", {}, h("button", { type: "submit", id: "simulate" }, "Simulate"))), slot);
  return { panel, setPrincipals: (arns) => list.replaceChildren(...arns.map((a) => h("option", { value: a }))) };
}

// ---------------------------------------------------------------- audit
function auditPage() {
  const slot = h("div", {});
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const inp = (name, label, ph) => field(label, h("input", { name, id: "a-" + name, value: q.get(name) || "", placeholder: ph || "" }));
  const since = h("select", { name: "since", id: "a-since" }, [["60", "Last hour"], ["1440", "Last day"], ["10080", "Last 7 days"], ["", "All time"]].map(([v, t]) => h("option", { value: v, selected: (q.get("since") ?? "60") === v }, t)));
  const chart = h("div", { class: "chart" });
  const results = h("div", { class: "scroll", id: "audit-results", "aria-busy": "false" });
  let searches = 0;
  const record = h("div", {});
  const verifySlot = h("div", {});
  const form = h("form", { class: "row", role: "search", onsubmit: (ev) => { ev.preventDefault(); search(); } },
    field("Time", since), inp("eventName", "Operation", "Decrypt"), inp("key", "Key", "key id or ARN"), inp("principal", "Principal", "principal ARN"), inp("errorCode", "Error", "AccessDeniedException"),
    h("button", { type: "submit", id: "audit-search" }, "Search"));
  async function search() {
    const f = {};
    for (const el of form.elements) if (el.name && el.name !== "since" && el.value.trim()) f[el.name] = el.value.trim();
    if (since.value) f.start = new Date(Date.now() - Number(since.value) * 60000).toISOString().slice(0, 19) + "Z";
    // Only the latest search's answer is shown.
    const mine = ++searches;
    results.setAttribute("aria-busy", "true");
    const r = await safely(slot, () => post("/console/api/audit", f));
    if (mine !== searches) return;
    results.setAttribute("aria-busy", "false");
    if (!r) { chartPanel.hidden = resultsPanel.hidden = true; return; }
    chartPanel.hidden = resultsPanel.hidden = false;
    timeline(chart, r.timeline, Number(since.value) || 0);
    record.replaceChildren();
    const row = (e) => h("tr", { class: "clickable", tabindex: 0, onclick: () => showRecord(e), onkeydown: (ev) => { if (ev.key === "Enter") showRecord(e); } },
      h("td", { class: "mono nowrap" }, h("span", { class: "hide-sm" }, (e.eventTime || "").slice(0, 10) + " "), (e.eventTime || "").slice(11, 19)), h("td", {}, e.eventName, e.sessionCredentialFromConsole ? h("span", { class: "muted hide-sm" }, " · console") : null),
      h("td", { class: "mono principal hide-sm" }, (e.userIdentity && (e.userIdentity.arn || e.userIdentity.type)) || ""),
      h("td", {}, e.errorCode ? badge(e.errorCode, e.errorCode === "AccessDeniedException" ? "warn" : "bad") : badge("ok")),
      h("td", { class: "mono hide-sm nowrap" }, shortArn(((e.resources || [])[0] || {}).ARN || "")));
    const tbody = h("tbody", {});
    let shown = 0;
    const more = h("button", { type: "button", class: "ghost more", id: "audit-more", onclick: () => page() }, "Show more");
    const count = h("p", { class: "muted" });
    // Rows 50 at a time: the answer holds up to 500 (the newest).
    function page() {
      tbody.append(...r.events.slice(shown, shown + 50).map(row));
      shown = Math.min(r.events.length, shown + 50);
      more.hidden = shown >= r.events.length;
      count.textContent = `${r.total} events` + (r.total > r.events.length ? `; the newest ${r.events.length} can be listed` : "") + `; ${shown} shown, newest first`;
    }
    page();
    results.replaceChildren(count, r.events.length
      ? h("table", { class: "events" }, h("thead", {}, h("tr", {}, ["Time (UTC)", "Operation", "Principal", "Outcome", "Key"].map((t, i) => h("th", { class: i === 2 || i === 4 ? "hide-sm" : null }, t)))), tbody)
      : h("p", { class: "empty" }, "No events match."), more);
  }
  function showRecord(e) {
    record.replaceChildren(h("section", { class: "panel" }, h("div", { class: "spread" }, h("h2", {}, e.eventName + " · " + e.eventID), h("button", { type: "button", class: "ghost small", onclick: () => record.replaceChildren() }, "Close")), h("pre", { id: "audit-record" }, JSON.stringify(e, null, 2))));
    record.scrollIntoView({ block: "nearest" });
  }
  const verifyBtn = h("button", { type: "button", class: "ghost", id: "audit-verify", onclick: async () => {
    const r = await safely(verifySlot, () => post("/console/api/verify", {}));
    if (r) show(verifySlot, r.ok ? h("div", { class: "notice", role: "status" }, `The trail verifies: ${r.records} records in ${r.files} files, ${r.digests} signed digests, unbroken.`)
      : h("div", { class: "error", role: "alert" }, h("strong", {}, "The trail does not verify"), r.problem));
  } }, "Verify the trail");
  const chartPanel = h("section", { class: "panel", hidden: true }, h("h2", {}, "Calls per minute"), chart);
  const resultsPanel = h("section", { class: "panel", hidden: true }, results);
  render(h("div", { class: "spread" }, h("h1", {}, "Audit"), verifyBtn), verifySlot, slot,
    h("section", { class: "panel" }, form), chartPanel, record, resultsPanel);
  search();
}
/**
 * Calls over time by outcome, from the server's per-minute counts: every
 * minute of the range is a slot (empty ones too), grouped into at most 120
 * bars, so that the chart reads as time, whatever the number of calls.
 */
function timeline(el, points, sinceMinutes) {
  if (!points.length) { el.replaceChildren(h("p", { class: "empty" }, "No calls in this range.")); return; }
  const toMs = (m) => Date.parse(m + ":00Z");
  const lastMs = Math.max(toMs(points[points.length - 1].minute), Math.floor(Date.now() / 60000) * 60000);
  let firstMs = sinceMinutes ? lastMs - (sinceMinutes - 1) * 60000 : toMs(points[0].minute);
  firstMs = Math.min(firstMs, toMs(points[0].minute));
  const minutes = Math.round((lastMs - firstMs) / 60000) + 1;
  const per = Math.max(1, Math.ceil(minutes / 120));
  const bars = Array.from({ length: Math.ceil(minutes / per) }, (_, i) => ({ start: firstMs + i * per * 60000, ok: 0, denied: 0, error: 0 }));
  for (const p of points) {
    const b = bars[Math.floor((toMs(p.minute) - firstMs) / 60000 / per)];
    if (b) { b.ok += p.ok; b.denied += p.denied; b.error += p.error; }
  }
  // The drawing is as wide as its box, so that its text stays legible.
  const W = Math.max(320, Math.min(1400, el.clientWidth || 900)), H = 180, P = 36;
  const max = Math.max(1, ...bars.map((b) => b.ok + b.denied + b.error));
  const bw = (W - P - 4) / bars.length;
  const label = per === 1 ? "Calls per minute by outcome" : `Calls per ${per} minutes by outcome`;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 24}`, role: "img", "aria-label": "Calls per minute by outcome" });
  const desc = svg("title", {}); desc.textContent = label; s.append(desc);
  s.append(svg("line", { x1: P, y1: H, x2: W, y2: H, class: "axis" }), svg("line", { x1: P, y1: 4, x2: P, y2: H, class: "axis" }));
  for (const v of [max, Math.round(max / 2)]) {
    const y = H - (v / max) * (H - 8);
    s.append(svg("line", { x1: P, y1: y, x2: W, y2: y, class: "axis grid-line" }));
    const t = svg("text", { x: P - 6, y: y + 4, "text-anchor": "end" }); t.textContent = String(v); s.append(t);
  }
  const hhmm = (ms) => new Date(ms).toISOString().slice(per >= 60 ? 5 : 11, 16).replace("T", " ");
  bars.forEach((b, i) => {
    let y = H;
    for (const [k, cls] of [["ok", "c-ok"], ["denied", "c-denied"], ["error", "c-error"]]) {
      const bh = (b[k] / max) * (H - 8);
      if (bh > 0) {
        const r = svg("rect", { x: P + 2 + i * bw, y: y - bh, width: Math.max(1, Math.min(bw - 2, 40)), height: bh, class: cls });
        const title = svg("title", {}); title.textContent = `${hhmm(b.start)} UTC: ${b[k]} ${k}`; r.append(title);
        s.append(r); y -= bh;
      }
    }
  });
  const ticks = W < 500 ? 3 : 6;
  for (let i = 0; i <= ticks; i++) {
    const idx = Math.min(bars.length - 1, Math.round((i * (bars.length - 1)) / ticks));
    const x = P + 2 + idx * bw;
    const lbl = svg("text", { x, y: H + 16, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" });
    lbl.textContent = hhmm(bars[idx].start); s.append(lbl);
  }
  el.replaceChildren(s, h("div", { class: "legend" }, h("span", {}, label.replace(" by outcome", "") + " (UTC):"), h("span", {}, h("i", { class: "c-ok" }), "succeeded"), h("span", {}, h("i", { class: "c-denied" }), "access denied"), h("span", {}, h("i", { class: "c-error" }), "other errors")));
}

// ---------------------------------------------------------------- health
let healthTimer = null;
const history = [];
function stopHealth() { if (healthTimer) { clearInterval(healthTimer); healthTimer = null; } }
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-z_]+)(\{([^}]*)\})? ([0-9.eE+-]+|NaN)$/);
    if (!m) continue;
    const labels = {};
    for (const kv of (m[3] || "").matchAll(/([a-z_]+)="([^"]*)"/g)) labels[kv[1]] = kv[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}
const sum = (ms, name, pred) => ms.filter((m) => m.name === name && (!pred || pred(m.labels))).reduce((a, m) => a + m.value, 0);
function healthPage() {
  const slot = h("div", {});
  const stats = h("div", { class: "stats" });
  const rate = h("div", { class: "chart" }), lat = h("div", { class: "chart" });
  const states = h("div", {});
  const ops = h("div", { class: "scroll" });
  render(h("h1", {}, "Health"), slot, stats, h("br"),
    h("div", { class: "grid" }, h("section", { class: "panel" }, h("h2", {}, "Requests per second"), rate), h("section", { class: "panel" }, h("h2", {}, "Mean latency (ms)"), lat)), h("br"),
    h("section", { class: "panel" }, h("h2", {}, "Keys by state"), states),
    h("section", { class: "panel" }, h("h2", {}, "Requests by operation"), ops));
  async function tick() {
    let text;
    try {
      const r = await fetch("/console/api/metrics", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": S.me.csrfToken }, body: "{}" });
      if (r.status === 401) { stopHealth(); S.me = null; signInPage("Your session has ended."); return; }
      if (!r.ok) { const e = await r.json().catch(() => ({})); stopHealth(); show(slot, errorBox({ type: e.__type, message: e.message })); return; }
      text = await r.text();
    } catch (e) { show(slot, errorBox({ type: "Network", message: String(e) })); return; }
    const ms = parseMetrics(text);
    const now = Date.now();
    const sample = { t: now, req: sum(ms, "kms_requests_total"), err: sum(ms, "kms_requests_total", (l) => l.outcome !== "ok"),
      latSum: sum(ms, "kms_request_duration_seconds_sum"), latCount: sum(ms, "kms_request_duration_seconds_count"),
      fsSum: sum(ms, "kms_audit_fsync_seconds_sum"), fsCount: sum(ms, "kms_audit_fsync_seconds_count") };
    const prev = history[history.length - 1];
    if (prev && now - prev.t > 0) {
      const dt = (now - prev.t) / 1000;
      sample.rate = (sample.req - prev.req) / dt;
      const dc = sample.latCount - prev.latCount;
      sample.lat = dc > 0 ? ((sample.latSum - prev.latSum) / dc) * 1000 : 0;
    }
    history.push(sample);
    while (history.length > 120) history.shift();
    const fsync = sample.fsCount ? (sample.fsSum / sample.fsCount) * 1000 : 0;
    const stat = (label, value, id) => h("section", { class: "panel" }, h("div", { class: "muted" }, label), h("div", { class: "stat", id }, value));
    stats.replaceChildren(stat("Requests served", String(sample.req), "h-requests"), stat("Errors", String(sample.err), "h-errors"),
      stat("Audit fsync, mean", fsync.toFixed(2) + " ms", "h-fsync"), stat("Audit records", String(sum(ms, "kms_audit_records_total")), "h-records"));
    line(rate, history.filter((s) => s.rate !== undefined).map((s) => s.rate), "requests per second");
    line(lat, history.filter((s) => s.lat !== undefined).map((s) => s.lat), "mean latency in ms");
    const byOp = {};
    for (const m of ms.filter((m) => m.name === "kms_requests_total")) {
      const o = (byOp[m.labels.operation] ||= { ok: 0, client_error: 0, server_error: 0, sum: 0, count: 0 });
      o[m.labels.outcome] = (o[m.labels.outcome] || 0) + m.value;
    }
    for (const m of ms.filter((m) => m.name === "kms_request_duration_seconds_sum" || m.name === "kms_request_duration_seconds_count")) {
      const o = byOp[m.labels.operation];
      if (o) o[m.name.endsWith("_sum") ? "sum" : "count"] = m.value;
    }
    const rows = Object.entries(byOp).sort((a, b) => (b[1].ok + b[1].client_error + b[1].server_error) - (a[1].ok + a[1].client_error + a[1].server_error));
    ops.replaceChildren(rows.length ? h("table", { id: "ops" }, h("thead", {}, h("tr", {}, ["Operation", "Succeeded", "Errors", "Mean latency"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.slice(0, 15).map(([name, o]) => h("tr", {}, h("td", {}, name), h("td", {}, String(o.ok)),
        h("td", { title: `${o.client_error} client, ${o.server_error} server` }, String(o.client_error + o.server_error)), h("td", { class: "nowrap" }, o.count ? ((o.sum / o.count) * 1000).toFixed(2) + " ms" : "—"))))) : h("p", { class: "empty" }, "No requests yet."));
    const byState = {};
    for (const m of ms.filter((m) => m.name === "kms_keys")) byState[m.labels.state] = (byState[m.labels.state] || 0) + m.value;
    states.replaceChildren(Object.keys(byState).length ? h("div", { class: "tags" }, Object.entries(byState).map(([s, n]) => h("span", { class: "chip" }, badge(s), String(n)))) : h("p", { class: "empty" }, "No keys."));
  }
  tick();
  healthTimer = setInterval(tick, 2000);
}
function line(el, values, label) {
  if (!values.length) { el.replaceChildren(h("p", { class: "empty" }, "Collecting samples (every 2 s)…")); return; }
  if (values.length === 1) values = [values[0], values[0]];
  const W = Math.max(300, Math.min(1000, el.clientWidth || 600)), H = 160, P = 34;
  const max = Math.max(1e-9, ...values) * 1.1;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 6}`, role: "img", "aria-label": label });
  s.append(svg("line", { x1: P, y1: H, x2: W, y2: H, class: "axis" }));
  const pts = values.map((v, i) => `${P + (i * (W - P)) / (values.length - 1)},${H - (v / max) * (H - 10)}`).join(" ");
  s.append(svg("polyline", { points: pts, class: "c-line" }));
  const t = svg("text", { x: 0, y: 12 }); t.textContent = (max / 1.1).toFixed(max < 10 ? 2 : 0); s.append(t);
  el.replaceChildren(s, h("p", { class: "muted" }, `Now: ${values[values.length - 1].toFixed(2)} · the last ${values.length * 2} s, a sample every 2 s`));
}

// ---------------------------------------------------------------- start
document.getElementById("signout").addEventListener("click", async () => {
  try { await post("/console/api/signout", {}); } catch (_) { /* signed out either way */ }
  S.me = null; stopHealth();
  signInPage();
});
(async () => {
  const r = await fetch("/console/api/session", { credentials: "same-origin" });
  const me = r.ok ? await r.json() : {};
  if (me.signedIn) { S.me = me; started(); } else signInPage();
})();
