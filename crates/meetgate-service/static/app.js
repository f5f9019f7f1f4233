// Progressive enhancement only: every page works without JavaScript.

// A page that answers a form (a new key, a webhook secret, an invitation link) is not sent again
// by a reload, which would create another: the history entry becomes a plain GET of its address.
// (Without JavaScript the browser still asks before sending a form again.)
history.replaceState(history.state, "", location.href);

// Copy buttons: data-copy names the element whose text to copy.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = document.getElementById(button.dataset.copy)?.textContent?.trim() ?? "";
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(text).then(done, () => selectText(button.dataset.copy));
  } else {
    selectText(button.dataset.copy);
  }
});

// Without clipboard access (plain http), select the text so that Ctrl-C copies it.
function selectText(id) {
  const element = document.getElementById(id);
  if (!element) return;
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// Destructive forms ask first.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Time zone fields start with the browser's own zone.
for (const input of document.querySelectorAll("input[data-default-timezone]")) {
  if (!input.value) {
    try { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (_) { /* leave it empty */ }
  }
}

// "Start instant meeting": open Zoom as host in a new tab and show the meeting here. The tab is
// opened at the click (browsers only allow that), then pointed at the start link once the
// meeting exists. Without script, the form posts and the meeting page offers the same link.
const instant = document.querySelector("form[data-instant]");
if (instant) {
  instant.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = instant.querySelector("button[type=submit]");
    const error = instant.querySelector("[data-form-error]");
    const tab = window.open("about:blank", "_blank");
    button.disabled = true;
    if (error) error.hidden = true;
    try {
      const response = await fetch(instant.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(instant)),
        credentials: "same-origin",
        headers: { accept: "application/json" },
      });
      const answer = await response.json();
      if (response.ok && answer.start_link) {
        if (tab) {
          tab.opener = null;
          tab.location.href = answer.start_link;
          window.location.href = answer.page;
        } else {
          // A blocked pop-up: the meeting page has the button that opens Zoom.
          window.location.href = answer.page.replace("done=started", "done=created");
        }
        return;
      }
      if (tab) tab.close();
      if (response.status === 401 && answer.signin) {
        window.location.href = answer.signin;
        return;
      }
      if (error) {
        error.textContent = answer.error || "That did not work. Try again.";
        error.hidden = false;
      }
      button.disabled = false;
    } catch (_) {
      if (tab) tab.close();
      // Let the server answer with a full page instead.
      instant.submit();
    }
  });
}

// Live meeting status: poll the page's own status endpoint. The polling does not count as
// activity, so an unattended page is still signed out after the idle time; then reload, which
// leads to the sign-in page with the reason.
const live = document.querySelector("[data-live-status]");
if (live) {
  const refresh = async () => {
    if (document.visibilityState === "hidden") return;
    try {
      const ids = [...new Set([...document.querySelectorAll("[data-meeting-status]")].map((cell) => cell.dataset.meetingStatus))];
      const url = `${live.dataset.liveStatus}?ids=${encodeURIComponent(ids.join(","))}`;
      const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (!response.ok) return;
      const statuses = await response.json();
      for (const [id, status] of Object.entries(statuses)) {
        for (const cell of document.querySelectorAll(`[data-meeting-status="${id}"]`)) {
          if (cell.textContent !== status) {
            cell.textContent = status;
            cell.className = `status ${status}`;
          }
        }
      }
    } catch (_) { /* offline: try again next tick */ }
  };
  setInterval(refresh, 3000);
}

// Times are written in UTC; show them in the reader's own time zone, with the UTC time on hover.
for (const moment of document.querySelectorAll("time[data-local]")) {
  const at = new Date(moment.dateTime);
  if (Number.isNaN(at.getTime())) continue;
  moment.title = moment.textContent;
  moment.textContent = at.toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: moment.hasAttribute("data-precise") ? "medium" : "short",
  });
}
