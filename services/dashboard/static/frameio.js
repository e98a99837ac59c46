// The Frame.io panel: one block a connection (name, state, user, account, token expiry,
// re-login deadline, Connect/Disconnect) and the "reconnect needed" banner. The default
// connection's block is the page's own (its fields keep their ids); the others are copies of
// it. With the default connection alone the panel looks as it did before there were several.

import { dateTime } from "./format.js";
import { showBadge, showText } from "./render.js";

const DEFAULT = "default";

function loginUrl(name) {
  return name === DEFAULT ? "/auth/login" : `/auth/login?connection=${encodeURIComponent(name)}`;
}

function fill(block, name, auth) {
  const field = (key) => block.querySelector(`[data-field="${key}"]`);
  const state = auth ? auth.state : "unknown";
  showText(field("name"), name);
  showBadge(field("state"), state);
  showText(field("user"), auth && auth.user ? (auth.email && auth.email !== auth.user ? `${auth.user} <${auth.email}>`
    : auth.user) : "");
  showText(field("account"), auth && auth.account_id);
  showText(field("expiry"), auth && auth.expires_at ? dateTime(auth.expires_at) : "");
  showText(field("message"), auth && auth.message);
  const connected = state === "connected";
  const connect = field("connect");
  connect.hidden = connected;
  connect.textContent = state === "reconnect_needed" ? "Reconnect" : "Connect";
  connect.href = loginUrl(name);
  field("disconnect").hidden = !connected;
  // The re-login deadline: Adobe ends a login's refresh token some days after it.
  const reauth = field("reauth");
  reauth.hidden = !(connected && auth.reauth_deadline);
  reauth.dataset.soon = String(Boolean(connected && auth.reauth_soon));
  reauth.textContent = reauth.hidden ? "" : `${auth.reauth_soon ? "⚠ " : ""}reconnect by ${dateTime(auth.reauth_deadline)}`;
}

export class ConnectionPanel {
  constructor({ list, banner, bannerMessage, bannerLink, onDisconnect }) {
    this.list = list;
    this.banner = banner;
    this.bannerMessage = bannerMessage;
    this.bannerLink = bannerLink;
    this.onDisconnect = onDisconnect;
    this.blocks = new Map();  // name -> element, in auth's order
    this.views = new Map();  // name -> the connection's view
    const first = list.querySelector(`[data-connection="${DEFAULT}"]`);
    this.template = first.cloneNode(true);
    for (const node of this.template.querySelectorAll("[id]")) node.removeAttribute("id");
    this.attach(DEFAULT, first);
  }

  attach(name, block) {
    block.dataset.connection = name;
    block.querySelector('[data-field="disconnect"]').addEventListener("click", () => this.onDisconnect(name));
    this.blocks.set(name, block);
  }

  // Every connection (a snapshot): those not in `views` go, the default block stays.
  replaceAll(views) {
    const names = new Set(views.map((view) => view.connection));
    for (const name of [...this.blocks.keys()]) {
      if (!names.has(name)) this.remove(name);
    }
    for (const view of views) this.update(view);
    this.refresh();
  }

  // One connection's view (an `auth` event, or the answer to a disconnect).
  update(view) {
    const name = view.connection || DEFAULT;
    if (view.state === "removed") {
      this.remove(name);
    } else {
      let block = this.blocks.get(name);
      if (!block) {
        block = this.template.cloneNode(true);
        this.list.append(block);
        this.attach(name, block);
      }
      this.views.set(name, view);
      fill(block, name, view);
    }
    this.refresh();
  }

  remove(name) {
    this.views.delete(name);
    if (name === DEFAULT) {
      fill(this.blocks.get(DEFAULT), DEFAULT, null);
      return;
    }
    const block = this.blocks.get(name);
    if (block) block.remove();
    this.blocks.delete(name);
  }

  refresh() {
    this.list.dataset.many = String(this.blocks.size > 1);
    const needing = [...this.views.values()].filter((view) => view.state === "reconnect_needed");
    this.banner.hidden = needing.length === 0;
    const several = this.blocks.size > 1;
    this.bannerMessage.textContent = needing.map((view) =>
      (several ? `${view.connection}: ${view.message}` : view.message)).join("; ");
    this.bannerLink.href = loginUrl(needing.length ? needing[0].connection : DEFAULT);
  }
}
