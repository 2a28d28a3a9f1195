// leaseq console: progressive enhancement only; every page works without this file.
"use strict";

function refreshQueues(table) {
  const status = document.getElementById("live-status");
  const poll = async () => {
    try {
      const answer = await fetch(table.dataset.live, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.status === 401) { window.location.reload(); return; } // to the sign-in form
      if (!answer.ok) throw new Error(String(answer.status));
      const { queues } = await answer.json();
      const rows = table.querySelectorAll("tbody tr[data-queue]");
      if (rows.length !== queues.length) { window.location.reload(); return; }
      for (const q of queues) {
        const row = table.querySelector(`tbody tr[data-queue="${CSS.escape(q.queue)}"]`);
        if (!row) { window.location.reload(); return; }
        const values = { ...q.counts, ready: q.ready, scheduled: q.scheduled, oldest_ready_age: q.oldest_ready_age, rate: q.rate, limits: q.limits, live_leases: q.live_leases, live_per_key: q.live_per_key };
        for (const [field, value] of Object.entries(values)) {
          const cell = row.querySelector(`[data-field="${field}"]`);
          if (cell) cell.textContent = String(value);
        }
        const line = row.querySelector('[data-field="sparkline"]');
        if (line) line.setAttribute("points", q.sparkline);
      }
      if (status) status.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      if (status) status.textContent = `Refresh failed (${error.message}); retrying.`;
    }
  };
  window.setInterval(poll, 1000 * Number(table.dataset.pollSeconds || 5));
  poll();
}

function confirmForms(dialog) {
  const title = document.getElementById("confirm-title");
  const text = document.getElementById("confirm-text");
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      const button = event.submitter;
      if (!button || !button.value) return;
      const chosen = form.querySelectorAll('input[name="task"]:checked, input[name="task"][type="hidden"]');
      if (chosen.length === 0) return; // the server explains what is missing
      event.preventDefault();
      const n = chosen.length;
      title.textContent = `${button.textContent.replace(/ selected$/, "")} ${n} task${n === 1 ? "" : "s"}?`;
      text.textContent = button.value === "requeue"
        ? "Requeued tasks become pending with their attempts reset and are ready at once."
        : "Cancelled tasks stop: a worker holding one loses its lease at its next heartbeat.";
      dialog.returnValue = "";
      dialog.addEventListener("close", () => {
        if (dialog.returnValue !== "yes") return;
        const action = document.createElement("input");
        action.type = "hidden"; action.name = "action"; action.value = button.value;
        form.appendChild(action);
        form.setAttribute("action", "/console/actions/apply"); // form.action may name an input
        form.submit();
      }, { once: true });
      dialog.showModal();
    });
  }
}

function selectAll(box) {
  box.hidden = false;
  const form = box.closest("form");
  box.addEventListener("change", () => {
    for (const each of form.querySelectorAll('input[name="task"][type="checkbox"]')) each.checked = box.checked;
  });
}

function countDown(span) {
  const expires = Date.parse(span.dataset.expiresAt);
  const tick = () => {
    const left = (expires - Date.now()) / 1000;
    span.textContent = left <= 0 ? "expired" : left < 60 ? `${left.toFixed(0)}s` : `${Math.floor(left / 60)}m ${String(Math.floor(left % 60)).padStart(2, "0")}s`;
  };
  window.setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("table[data-live]");
  if (live) refreshQueues(live);
  const dialog = document.getElementById("confirm-dialog");
  if (dialog && typeof dialog.showModal === "function") confirmForms(dialog);
  const box = document.getElementById("select-all");
  if (box) selectAll(box);
  for (const span of document.querySelectorAll("[data-expires-at]")) countDown(span);
});
