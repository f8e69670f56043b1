"use strict";
// The login page: POST /api/login with the user and password as JSON,
// then the live page. No inline script: the Content-Security-Policy
// allows scripts from this server only.

const form = document.getElementById("login");
const error = document.getElementById("error");

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const resp = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: document.getElementById("user").value, password: document.getElementById("password").value }),
    });
    if (resp.ok) {
      window.location.assign("/");
      return;
    }
    const ans = await resp.json().catch(() => ({}));
    if (resp.status === 429) {
      error.textContent = "Too many failed logins; try again in " + (resp.headers.get("Retry-After") || "a few") + " s.";
    } else {
      error.textContent = ans.error || "Login failed (" + resp.status + ")";
    }
  } catch (e) {
    error.textContent = "Vigil does not answer: " + e.message;
  } finally {
    button.disabled = false;
  }
});

// A server that needs no login sends the live page straight away.
fetch("/api/session").then((resp) => resp.ok ? resp.json() : null).then((s) => {
  if (s && !s.auth) window.location.assign("/");
}).catch(() => {});
