// Sign in with a key from matih.yaml: the server answers with an HttpOnly session cookie.
"use strict";

async function signinPage() {
  const next = new URLSearchParams(location.search).get("next") || "/ui/catalog";
  const safeNext = next.startsWith("/") && !next.startsWith("//") ? next : "/ui/catalog";
  document.getElementById("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const who = await post("/ui/signin", { key: document.getElementById("key").value });
      status(`signed in as ${who.who} (${who.role})`);
      location.assign(safeNext);
    } catch (err) {
      status(err.message, true);
    }
  });
  document.getElementById("signout").addEventListener("click", async () => {
    await post("/ui/signout");
    await whoami().catch(() => {});
    status("signed out");
  });
  status(me ? `now: ${me.who} (${me.role})` : "");
}

PAGES.signin = signinPage;
