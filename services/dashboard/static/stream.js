// Follows /events and survives anything: a dashboard restart, a dropped connection, a
// slow network. Reconnects itself with exponential backoff and jitter (never reloads the
// page), resumes from the last event id, and treats a silent connection (no ping within
// `watchdogMs`) as dead. A 401 while reconnecting means the session ended: it stops and
// calls `onUnauthorized` instead of looping.

export class LiveStream {
  constructor({ url = "/events", handlers, onState, onUnauthorized, minDelayMs = 500, maxDelayMs = 30000,
                watchdogMs = 45000 }) {
    this.url = url;
    this.handlers = handlers;
    this.onState = onState;
    this.onUnauthorized = onUnauthorized;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.watchdogMs = watchdogMs;
    this.delayMs = minDelayMs;
    this.lastId = "";
    this.source = null;
    this.retryTimer = null;
    this.watchdog = null;
  }

  start() {
    this.connect();
  }

  connect() {
    clearTimeout(this.retryTimer);
    const url = this.lastId ? `${this.url}?last_event_id=${encodeURIComponent(this.lastId)}` : this.url;
    const source = new EventSource(url);
    this.source = source;
    this.onState("connecting");
    this.armWatchdog();
    source.onopen = () => {
      if (source === this.source) this.onState("live");
    };
    source.onerror = () => {
      if (source === this.source) this.retry();
    };
    for (const [type, handle] of Object.entries(this.handlers)) {
      source.addEventListener(type, (event) => {
        if (source !== this.source) return;
        this.delayMs = this.minDelayMs;
        this.armWatchdog();
        if (event.lastEventId) this.lastId = event.lastEventId;
        handle(JSON.parse(event.data));
      });
    }
  }

  armWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.retry(), this.watchdogMs);
  }

  retry() {
    clearTimeout(this.watchdog);
    if (this.source) this.source.close();
    this.source = null;
    const waitMs = Math.round(this.delayMs * (0.8 + Math.random() * 0.4));
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.onState("reconnecting", waitMs);
    this.retryTimer = setTimeout(() => this.checkThenConnect(), waitMs);
  }

  async checkThenConnect() {
    try {
      const response = await fetch("/api/status", { credentials: "same-origin" });
      if (response.status === 401) {
        this.onState("signed-out");
        this.onUnauthorized();
        return;
      }
    } catch {
      // Unreachable: EventSource will fail too and the next retry waits longer.
    }
    this.connect();
  }
}
