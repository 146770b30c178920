// The tenants page: a new tenant's policy is a nested object in the API, so this form builds its body itself.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("new-tenant");
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const f = Periscope.formJson(form);
    const body = { id: f.id, displayName: f.displayName, policy: {
      approvalRequired: f.approvalRequired, maxConcurrentSessions: f.maxConcurrentSessions ?? 2,
      maxTraceMinutesPerDay: f.maxTraceMinutesPerDay ?? 60 } };
    try {
      await Periscope.api("POST", "/api/v1/tenants", body);
      location.reload();
    } catch (e) {
      let box = form.querySelector(".error-box");
      if (!box) { box = document.createElement("p"); box.className = "error-box"; box.setAttribute("role", "alert"); form.append(box); }
      box.textContent = e.message;
    }
  });
});
