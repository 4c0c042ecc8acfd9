// Signing in and out, the start once signed in, and guarded(): a lost session anywhere turns
// the page back to its sign-in form.

import { SignedOut, Unavailable, api, detailText, seconds } from "./api.js";
import { $ } from "./dom.js";
import { readFilters } from "./filters.js";
import { refreshTimes } from "./items.js";
import { openStream, refreshAll, schedulePoll, stopLive } from "./live.js";
import { resetZones, state } from "./state.js";
import { showView } from "./views.js";

/** Run `work`, turning a lost session into the sign-in page and an outage into the banner. */
export async function guarded(work) {
  try {
    return await work();
  } catch (failure) {
    if (failure instanceof SignedOut) {
      if (state.signedIn) showSignIn();
    } else if (!(failure instanceof Unavailable)) {
      throw failure;
    }
    return undefined;
  }
}

function showSignIn() {
  stopLive();
  state.signedIn = false;
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  state.zones = {};
  state.counts = null;
  state.countsEtag = null;
  $("#dashboard").hidden = true;
  $("#skip-link").hidden = true;
  $("#notice").hidden = true;
  $("#who").hidden = true;
  $("#sign-in").hidden = false;
  for (const list of document.querySelectorAll(".items")) list.replaceChildren();
  if (location.pathname !== "/login") history.replaceState(null, "", `/login${location.search}`);
  document.title = "Sign in · Loomworks";
  $("#email").focus();
}

function retryText(wait) {
  if (wait === null) return "a while";
  if (wait < 90) return `${wait} s`;
  return `${Math.ceil(wait / 60)} min`;
}

export async function signIn(event) {
  event.preventDefault();
  const error = $("#sign-in-error");
  const button = $("#sign-in-form button");
  error.textContent = "";
  button.disabled = true;
  try {
    const answer = await api("/auth/login", {
      method: "POST",
      body: { email: $("#email").value.trim(), password: $("#password").value },
    });
    if (answer.status === 204) {
      $("#password").value = "";
      await start();
    } else if (answer.status === 401) {
      error.textContent = detailText(answer.data, "Email or password is wrong.");
    } else if (answer.status === 429) {
      const wait = seconds(answer.headers.get("Retry-After"));
      error.textContent = `Too many attempts. Try again in ${retryText(wait)}.`;
    } else if (answer.status === 422) {
      error.textContent = "Enter your email address and your password.";
    } else {
      error.textContent = detailText(answer.data, `Sign-in failed (${answer.status}).`);
    }
  } catch (failure) {
    if (failure instanceof Unavailable) error.textContent = "The service is unavailable; try again shortly.";
    else throw failure;
  } finally {
    button.disabled = false;
  }
}

export async function signOut() {
  try {
    await api("/auth/logout", { method: "POST" });
  } catch (failure) {
    if (!(failure instanceof SignedOut)) throw failure;
  }
  showSignIn();
}

export async function start() {
  let answer;
  try {
    answer = await api("/me");
  } catch (failure) {
    if (failure instanceof SignedOut) {
      showSignIn();
      return;
    }
    if (failure instanceof Unavailable) {
      setTimeout(start, 3000);
      return;
    }
    throw failure;
  }
  state.signedIn = true;
  $("#sign-in").hidden = true;
  $("#who").hidden = false;
  $("#who-name").textContent = answer.data.display_name;
  state.me = answer.data.id;
  $("#dashboard").hidden = false;
  $("#skip-link").hidden = false;
  document.title = "Dashboard · Loomworks";
  if (location.pathname !== "/") history.replaceState(null, "", `/${location.search}`);
  state.filters = readFilters();
  resetZones();
  showView(state.view, { push: false });
  await refreshAll();
  schedulePoll();
  state.clockTimer = setInterval(() => refreshTimes(document), 30_000);
  openStream();
}
