// ferryman serve: keep the page live and send the buttons' requests. No library, no build.
// The server renders every piece of HTML; this script fetches the live fragments again
// every POLL_MS and posts JSON (Content-Type application/json: a cross-site form cannot).
"use strict";

(function () {
  const POLL_MS = 1500;
  const move = document.body.dataset.move || null;
  const live = document.querySelector("[data-live]");

  function api(path) {
    return "/api/moves/" + encodeURIComponent(move) + path;
  }

  function flash(text, ok) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.className = ok ? "ok" : "bad";
  }

  async function refresh() {
    if (!live) return;
    try {
      const r = await fetch(live.dataset.live, { credentials: "same-origin" });
      if (r.redirected && r.url.indexOf("/login") >= 0) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname);
        return;
      }
      if (r.ok) {
        live.innerHTML = await r.text();
        live.dataset.updated = String(Date.now());
        live.classList.remove("stale");
      } else {
        live.classList.add("stale");
      }
    } catch (e) {
      live.classList.add("stale");
    }
    setTimeout(refresh, POLL_MS);
  }

  async function post(path, body) {
    const r = await fetch(api(path), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    let doc = {};
    try {
      doc = await r.json();
    } catch (e) {
      doc = {};
    }
    return { ok: r.ok, status: r.status, doc: doc };
  }

  function failed(res) {
    const d = res.doc || {};
    flash((d.message || "request failed (" + res.status + ")") + (d.hint ? " — fix: " + d.hint : ""), false);
  }

  function numberOf(id) {
    const el = document.getElementById(id);
    if (!el || el.value === "") return null;
    return Number(el.value);
  }

  function switchOptions() {
    const opts = { fence: document.getElementById("switch-fence").value };
    const lag = numberOf("switch-max-lag");
    if (lag !== null) opts.max_lag = lag;
    return opts;
  }

  let pending = null; // the switch/reverse waiting for its confirmation

  function showPlan(op, plan) {
    const box = document.getElementById("confirm-box");
    document.getElementById("confirm-title").textContent = op + " " + move + " would:";
    const list = document.getElementById("confirm-plan");
    list.replaceChildren();
    for (const step of plan || []) {
      const li = document.createElement("li");
      li.textContent = step;
      list.appendChild(li);
    }
    document.getElementById("btn-confirm").textContent = "Confirm " + op;
    box.hidden = false;
  }

  const actions = {
    async pause() {
      const res = await post("/pause");
      res.ok ? flash("paused: the runner holds at its next batch boundary", true) : failed(res);
    },
    async resume() {
      const res = await post("/resume");
      res.ok ? flash("resumed", true) : failed(res);
    },
    async throttle() {
      const body = {};
      const rows = numberOf("throttle-rows");
      const lag = numberOf("throttle-lag");
      body.max_rows_per_second = rows === null ? 0 : rows;
      if (lag !== null) body.max_source_lag = lag;
      const res = await post("/throttle", body);
      const shown = rows ? rows + " rows/s" : "unlimited";
      res.ok ? flash("throttle set: " + shown, true) : failed(res);
    },
    async postpone(btn) {
      const on = btn.dataset.on === "true";
      const res = await post("/postpone", { postponed: on });
      res.ok ? flash(on ? "switch postponed" : "switch allowed", true) : failed(res);
    },
    async verify() {
      const res = await post("/verify");
      res.ok ? flash("verify started (job " + res.doc.id + ")", true) : failed(res);
    },
    async plan(btn) {
      const op = btn.dataset.op;
      const opts = switchOptions();
      const res = await post("/" + op, Object.assign({ dry_run: true }, opts));
      if (!res.ok) return failed(res);
      pending = { op: op, opts: opts };
      showPlan(op, res.doc.plan);
      flash("check the plan, then confirm", true);
    },
    async confirm() {
      if (!pending) return;
      const { op, opts } = pending;
      pending = null;
      document.getElementById("confirm-box").hidden = true;
      flash(op + " running…", true);
      const res = await post("/" + op, Object.assign({ confirm: true }, opts));
      if (!res.ok) return failed(res);
      const d = res.doc;
      if (d.rolled_back) flash(op + " rolled back: " + (d.reason || ""), false);
      else flash(op + " done: writes go to " + d.new_primary + "; downtime " + Number(d.downtime_seconds).toFixed(3) + " s", true);
    },
    back() {
      pending = null;
      document.getElementById("confirm-box").hidden = true;
      flash("", true);
    },
    async end(btn) {
      const op = btn.dataset.op;
      const typed = document.getElementById("confirm-name").value;
      if (typed !== move) return flash("type the name " + move + " to confirm " + op, false);
      const res = await post("/" + op, { confirm_name: typed });
      if (!res.ok) return failed(res);
      flash(op + " done", true);
      if (op === "cancel") setTimeout(function () { location.href = "/"; }, 1000);
    },
  };

  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("button[data-action]");
    if (!btn || !move) return;
    const act = actions[btn.dataset.action];
    if (!act) return;
    ev.preventDefault();
    btn.disabled = true;
    Promise.resolve(act(btn))
      .catch(function (e) { flash(String(e), false); })
      .finally(function () { btn.disabled = false; });
  });

  if (live) setTimeout(refresh, POLL_MS);
})();
