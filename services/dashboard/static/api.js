// Calls to the dashboard's REST API. POSTs echo the CSRF cookie in X-CSRF-Token.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)postflow_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function answer(response) {
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || response.statusText || "request failed");
  }
  return data;
}

export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
  return answer(response);
}

export async function postJSON(url, body = {}) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json", "x-csrf-token": csrfToken() },
    body: JSON.stringify(body),
  });
  return answer(response);
}
