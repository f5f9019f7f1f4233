// Progressive enhancement only: every page works without JavaScript.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = document.getElementById(button.dataset.copy)?.textContent?.trim() ?? "";
  navigator.clipboard?.writeText(text).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// Live meeting status: poll the page's own status endpoint while meetings are not ended.
const live = document.querySelector("[data-live-status]");
if (live) {
  const refresh = async () => {
    try {
      const response = await fetch(live.dataset.liveStatus, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (!response.ok) return;
      const statuses = await response.json();
      for (const [id, status] of Object.entries(statuses)) {
        const cell = document.querySelector(`[data-meeting-status="${id}"]`);
        if (cell && cell.textContent !== status) {
          cell.textContent = status;
          cell.className = `status ${status}`;
        }
      }
    } catch (_) { /* offline: try again next tick */ }
  };
  setInterval(refresh, 3000);
}
