/*
 * LWOO-assistent website chat widget (docs/widget.md).
 *
 * Embed with one tag:
 *   <script src="https://chat.example/widget/lwoo-chat.js" data-server="https://chat.example"
 *           data-token-callback="getLwooPortalToken" defer></script>
 *
 * Security rules for this file: bot and user text are only ever set with textContent /
 * createTextNode (never innerHTML); links in bot text become <a> only for http(s) URLs.
 * The conversation (resume token + rendered messages) lives in sessionStorage: it survives
 * a reload in this tab and is gone when the tab closes.
 */
import { io } from "socket.io-client";

const STORAGE_KEY = "lwoo-chat:v1";
const STORAGE_MAX_AGE_MS = 30 * 60 * 1000; // matches the server's resume token lifetime
const MAX_HISTORY = 200;
const MAX_CHARS = 1000;
const ANSWER_TIMEOUT_MS = 25000;
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const CALLBACK_NAME = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

const TEXT = {
  launcher: "Chat met de assistent",
  region: "Chat met de LWOO-assistent",
  title: "LWOO-assistent",
  subtitle: "Digitale assistent van Compaen vmbo, geen mens",
  close: "Chat sluiten",
  clear: "Gesprek wissen",
  sharedComputer: "Gedeelde computer?",
  privacyTitle: "Voordat u begint",
  privacy: [
    "U chat met een computerprogramma, niet met een medewerker van school.",
    "Uw vragen en de antwoorden worden op de server van school bewaard, zodat de " +
      "assistent kan werken en beter kan worden. Deel geen medische of andere gevoelige " +
      "gegevens over uw kind.",
    "Het gesprek blijft zichtbaar in dit tabblad tot u het tabblad sluit. Gebruikt u een " +
      "gedeelde computer? Klik dan na afloop op \u201cGesprek wissen\u201d.",
  ],
  accept: "Akkoord, start de chat",
  inputLabel: "Uw vraag",
  placeholder: "Typ uw vraag over lwoo\u2026",
  send: "Versturen",
  you: "U: ",
  bot: "Assistent: ",
  typing: "De assistent typt\u2026",
  connecting: "Verbinden met de assistent\u2026",
  offline:
    "Geen verbinding met de assistent. Ik probeer het automatisch opnieuw. Controleer ook " +
    "uw internetverbinding.",
  refused: "De chat is op deze pagina niet beschikbaar. Neem contact op met de school.",
  notSent: "Uw bericht is niet verstuurd, want er is geen verbinding. Probeert u het zo opnieuw.",
  noAnswer:
    "Er komt geen antwoord. Probeert u het opnieuw, of neem contact op met de administratie " +
    "van school.",
  tooLong: "Uw bericht is te lang (meer dan 1000 tekens). Wilt u uw vraag korter stellen?",
  expired: "Uw vorige gesprek is verlopen. U begint een nieuw gesprek.",
  cleared: "Het gesprek is gewist.",
  suggestions: "Suggesties",
  feedbackQuestion: "Had u iets aan dit antwoord?",
  feedbackYes: "Ja, dit antwoord hielp mij",
  feedbackNo: "Nee, dit antwoord hielp mij niet",
  feedbackThanks: "Bedankt voor uw reactie.",
  newWindow: " (opent in een nieuw tabblad)",
};

const thisScript = document.currentScript;

function readConfig(script) {
  const data = (script && script.dataset) || {};
  let server = (data.server || "").trim();
  if (!server && script && script.src) server = new URL(script.src, location.href).origin;
  if (!server) server = location.origin;
  server = new URL(server, location.href).origin;
  const callback = (data.tokenCallback || "").trim();
  return {
    server,
    tokenCallback: CALLBACK_NAME.test(callback) ? callback : "",
    open: data.open === "true",
  };
}

/* ---------- storage (sessionStorage: this tab only) ---------- */

function emptyState() {
  return { token: "", accepted: false, open: false, history: [], at: Date.now() };
}

function loadState() {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return emptyState();
    const state = JSON.parse(raw);
    if (!state || typeof state !== "object" || !Array.isArray(state.history)) return emptyState();
    if (typeof state.at !== "number" || Date.now() - state.at > STORAGE_MAX_AGE_MS) {
      sessionStorage.removeItem(STORAGE_KEY);
      return emptyState();
    }
    return {
      token: typeof state.token === "string" ? state.token : "",
      accepted: state.accepted === true,
      open: state.open === true,
      history: state.history.filter(isStoredMessage).slice(-MAX_HISTORY),
      at: state.at,
    };
  } catch (err) {
    return emptyState();
  }
}

function isStoredMessage(m) {
  return m && typeof m === "object" && typeof m.text === "string" &&
    (m.who === "bot" || m.who === "user" || m.who === "system");
}

function saveState(state) {
  state.at = Date.now();
  state.history = state.history.slice(-MAX_HISTORY);
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch (err) {
    /* storage full or disabled: the chat still works, it just won't survive a reload */
  }
}

/* ---------- DOM helpers (text only, never HTML) ---------- */

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function srOnly(text) {
  return el("span", "lwoo-sr-only", text);
}

/** Append ``text`` to ``parent`` as text nodes, with http(s) URLs as safe links. */
function appendLinkedText(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, "");
    const start = match.index;
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch (err) {
      href = null;
    }
    if (!href) continue;
    parent.appendChild(document.createTextNode(text.slice(last, start)));
    const link = el("a", "lwoo-link", url);
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.appendChild(srOnly(TEXT.newWindow));
    parent.appendChild(link);
    last = start + url.length;
  }
  parent.appendChild(document.createTextNode(text.slice(last)));
}

/* ---------- the widget ---------- */

class LwooChat {
  constructor(config) {
    this.config = config;
    this.state = loadState();
    this.socket = null;
    this.connected = false;
    this.waiting = false;
    this.turnSilent = false;
    this.turnBotIndexes = [];
    this.turnAnchor = null;
    this.answerTimer = null;
    this.uid = "lwoo-" + Math.random().toString(36).slice(2, 8);
    this.build();
    this.renderHistory();
    if (this.state.open || config.open) this.open(false);
    if (this.state.accepted) this.connect();
  }

  build() {
    const root = el("aside", "lwoo-chat");
    root.setAttribute("aria-label", TEXT.region);
    root.lang = "nl";
    root.hidden = true; // shown once the stylesheet has loaded
    this.root = root;

    const launcher = el("button", "lwoo-launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", this.uid + "-panel");
    launcher.appendChild(el("span", "lwoo-launcher-icon", "\u{1F4AC}")).setAttribute("aria-hidden", "true");
    launcher.appendChild(el("span", "lwoo-launcher-text", TEXT.launcher));
    launcher.addEventListener("click", () => (this.isOpen() ? this.close() : this.open(true)));
    this.launcher = launcher;

    const panel = el("section", "lwoo-panel");
    panel.id = this.uid + "-panel";
    panel.setAttribute("aria-labelledby", this.uid + "-title");
    panel.hidden = true;
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      }
    });
    this.panel = panel;

    const header = el("div", "lwoo-header");
    const titles = el("div", "lwoo-titles");
    const title = el("h2", "lwoo-title", TEXT.title);
    title.id = this.uid + "-title";
    titles.appendChild(title);
    titles.appendChild(el("p", "lwoo-subtitle", TEXT.subtitle));
    header.appendChild(titles);
    const close = el("button", "lwoo-close");
    close.type = "button";
    close.setAttribute("aria-label", TEXT.close);
    close.appendChild(el("span", "", "\u00D7")).setAttribute("aria-hidden", "true");
    close.addEventListener("click", () => this.close());
    header.appendChild(close);
    panel.appendChild(header);

    const status = el("div", "lwoo-status");
    status.setAttribute("role", "status");
    this.status = status;
    panel.appendChild(status);

    const alert = el("div", "lwoo-alert");
    alert.setAttribute("role", "alert");
    this.alert = alert;
    panel.appendChild(alert);

    const privacy = el("div", "lwoo-privacy");
    privacy.appendChild(el("h3", "lwoo-privacy-title", TEXT.privacyTitle));
    for (const line of TEXT.privacy) privacy.appendChild(el("p", "", line));
    const accept = el("button", "lwoo-accept", TEXT.accept);
    accept.type = "button";
    accept.addEventListener("click", () => this.accept());
    privacy.appendChild(accept);
    this.privacy = privacy;
    this.acceptButton = accept;
    panel.appendChild(privacy);

    const log = el("div", "lwoo-log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-relevant", "additions");
    log.setAttribute("aria-label", "Gesprek");
    log.tabIndex = 0; // scrollable region must be reachable by keyboard
    this.log = log;
    panel.appendChild(log);

    const typing = el("div", "lwoo-typing");
    typing.setAttribute("role", "status");
    typing.hidden = true;
    const dots = el("span", "lwoo-dots");
    dots.setAttribute("aria-hidden", "true");
    for (let i = 0; i < 3; i += 1) dots.appendChild(el("span", "lwoo-dot"));
    typing.appendChild(dots);
    typing.appendChild(el("span", "lwoo-typing-text", TEXT.typing));
    this.typing = typing;
    panel.appendChild(typing);

    const form = el("form", "lwoo-form");
    form.noValidate = true;
    const label = el("label", "lwoo-sr-only", TEXT.inputLabel);
    label.htmlFor = this.uid + "-input";
    const input = el("input", "lwoo-input");
    input.id = this.uid + "-input";
    input.type = "text";
    input.autocomplete = "off";
    input.maxLength = MAX_CHARS;
    input.placeholder = TEXT.placeholder;
    const send = el("button", "lwoo-send", TEXT.send);
    send.type = "submit";
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(send);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.form = form;
    this.input = input;
    panel.appendChild(form);

    const footer = el("div", "lwoo-footer");
    footer.appendChild(el("span", "lwoo-footer-text", TEXT.sharedComputer));
    const clear = el("button", "lwoo-clear", TEXT.clear);
    clear.type = "button";
    clear.addEventListener("click", () => this.clearConversation());
    footer.appendChild(clear);
    this.footer = footer;
    panel.appendChild(footer);

    root.appendChild(panel);
    root.appendChild(launcher);
    this.updatePrivacy();

    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = this.config.server + "/widget/lwoo-chat.css";
    style.addEventListener("load", () => (root.hidden = false));
    style.addEventListener("error", () => (root.hidden = false));
    document.head.appendChild(style);
    document.body.appendChild(root);

    window.addEventListener("offline", () => this.setOffline(true));
    window.addEventListener("online", () => {
      if (this.connected) this.setOffline(false);
    });
  }

  /* ----- open / close / privacy ----- */

  isOpen() {
    return !this.panel.hidden;
  }

  open(moveFocus) {
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.root.classList.add("lwoo-open");
    this.state.open = true;
    saveState(this.state);
    this.scrollToEnd();
    if (moveFocus) (this.state.accepted ? this.input : this.acceptButton).focus();
  }

  close() {
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.root.classList.remove("lwoo-open");
    this.state.open = false;
    saveState(this.state);
    this.launcher.focus();
  }

  updatePrivacy() {
    const accepted = this.state.accepted;
    this.privacy.hidden = accepted;
    this.form.hidden = !accepted;
    this.log.hidden = !accepted;
    this.footer.hidden = !accepted;
  }

  accept() {
    this.state.accepted = true;
    saveState(this.state);
    this.updatePrivacy();
    this.input.focus();
    this.connect();
  }

  /* ----- connection ----- */

  async portalToken() {
    const name = this.config.tokenCallback;
    if (!name) return "";
    let fn = window;
    for (const part of name.split(".")) fn = fn == null ? undefined : fn[part];
    if (typeof fn !== "function") return "";
    try {
      const token = await fn();
      return typeof token === "string" ? token : "";
    } catch (err) {
      return "";
    }
  }

  connect() {
    if (this.socket) return;
    this.setStatus(TEXT.connecting);
    this.hadToken = Boolean(this.state.token);
    const socket = io(this.config.server, {
      path: "/socket.io",
      transports: ["websocket"],
      reconnectionDelay: 1000,
      reconnectionDelayMax: 10000,
      auth: (cb) => {
        this.portalToken().then((portal) => {
          const auth = { resume_token: this.state.token || "" };
          if (portal) auth.portal_token = portal;
          cb(auth);
        });
      },
    });
    this.socket = socket;
    socket.on("connect", () => {
      this.connected = true;
      this.setOffline(false);
      this.setStatus("");
      socket.emit("session_request", {});
    });
    socket.on("session_confirm", (data) => this.onSessionConfirm(data));
    socket.on("bot_uttered", (data) => this.onBotMessage(data));
    socket.on("turn_done", (data) => this.onTurnDone(data));
    socket.on("disconnect", (reason) => {
      this.connected = false;
      this.stopWaiting();
      if (reason === "io server disconnect") return; // we asked for it (clear) or refused
      this.setOffline(true);
    });
    socket.on("connect_error", (err) => {
      this.connected = false;
      this.stopWaiting();
      if (!socket.active) {
        // the server refused us (e.g. this page's origin is not allowed): no retry
        this.setStatus("");
        this.showAlert(TEXT.refused);
        this.input.disabled = true;
      } else {
        this.setOffline(true);
      }
      void err;
    });
  }

  onSessionConfirm(data) {
    if (!data || typeof data.resume_token !== "string") return;
    const isNew = !data.resumed;
    if (isNew && this.hadToken && this.state.history.length) {
      this.state.history = [];
      this.log.textContent = "";
      this.addMessage({ who: "system", text: TEXT.expired });
    }
    this.hadToken = true;
    this.state.token = data.resume_token;
    saveState(this.state);
    if (isNew && !this.state.history.some((m) => m.who === "bot")) {
      // a new conversation starts with the assistant's greeting and suggestions
      this.sendPayload("/greet", null, true);
    }
  }

  setOffline(offline) {
    if (offline) this.showAlert(TEXT.offline);
    else this.showAlert("");
    this.root.classList.toggle("lwoo-offline", offline);
  }

  setStatus(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  showAlert(text) {
    this.alert.textContent = text;
    this.alert.hidden = !text;
  }

  /* ----- messages ----- */

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      this.showAlert(TEXT.tooLong);
      return;
    }
    if (this.sendPayload(text, text, false)) this.input.value = "";
  }

  /** Send ``message``; show ``shown`` as the parent's message (null: nothing shown). */
  sendPayload(message, shown, silent) {
    if (!this.socket || !this.connected) {
      this.showAlert(TEXT.notSent);
      return false;
    }
    this.showAlert("");
    this.removeQuickReplies();
    if (shown !== null) this.addMessage({ who: "user", text: shown });
    this.turnSilent = silent;
    this.turnBotIndexes = [];
    this.turnAnchor = null;
    this.socket.emit("user_uttered", { message });
    this.startWaiting();
    return true;
  }

  onBotMessage(data) {
    if (!data || typeof data !== "object") return;
    const text = typeof data.text === "string" ? data.text : "";
    const quick = Array.isArray(data.quick_replies)
      ? data.quick_replies
          .filter((q) => q && typeof q.title === "string" && typeof q.payload === "string")
          .map((q) => ({ title: q.title, payload: q.payload }))
      : [];
    if (!text && !quick.length) return;
    const index = this.addMessage({ who: "bot", text, quick });
    if (this.turnAnchor === null) this.turnAnchor = index;
    this.turnBotIndexes.push(index);
    this.scrollToLatest();
  }

  onTurnDone(data) {
    if (data && typeof data.resume_token === "string") {
      this.state.token = data.resume_token;
    }
    const indexes = this.turnBotIndexes;
    if (!this.turnSilent && indexes.length) {
      const last = indexes[indexes.length - 1];
      const message = this.state.history[last];
      if (message) {
        message.feedback = "ask";
        this.rerender(last);
        this.scrollToLatest();
      }
    }
    this.turnBotIndexes = [];
    saveState(this.state);
    this.stopWaiting();
  }

  sendFeedback(index, value) {
    const message = this.state.history[index];
    if (!message || message.feedback !== "ask") return;
    if (!this.socket || !this.connected) {
      this.showAlert(TEXT.notSent);
      return;
    }
    message.feedback = value;
    saveState(this.state);
    this.turnSilent = true; // whatever the assistant says to feedback gets no feedback buttons
    this.turnBotIndexes = [];
    this.socket.emit("user_uttered", { message: '/feedback{"helpful": "' + value + '"}' });
    const node = this.rerender(index);
    const thanks = node && node.querySelector(".lwoo-feedback-thanks");
    if (thanks) thanks.focus();
  }

  startWaiting() {
    this.waiting = true;
    this.typing.hidden = false;
    this.scrollToEnd();
    clearTimeout(this.answerTimer);
    this.answerTimer = setTimeout(() => {
      if (this.waiting) {
        this.stopWaiting();
        this.showAlert(TEXT.noAnswer);
      }
    }, ANSWER_TIMEOUT_MS);
  }

  stopWaiting() {
    this.waiting = false;
    this.typing.hidden = true;
    clearTimeout(this.answerTimer);
  }

  addMessage(message) {
    this.state.history.push(message);
    const index = this.state.history.length - 1;
    saveState(this.state);
    this.log.appendChild(this.renderMessage(message, index));
    this.scrollToEnd();
    return index;
  }

  removeQuickReplies() {
    let changed = false;
    this.state.history.forEach((m) => {
      if (m.quick && m.quick.length) {
        m.quick = [];
        changed = true;
      }
    });
    for (const group of this.log.querySelectorAll(".lwoo-quick")) group.remove();
    if (changed) saveState(this.state);
  }

  renderHistory() {
    this.log.textContent = "";
    this.state.history.forEach((m, i) => this.log.appendChild(this.renderMessage(m, i)));
  }

  rerender(index) {
    const old = this.log.querySelector('[data-index="' + index + '"]');
    const node = this.renderMessage(this.state.history[index], index);
    if (old) old.replaceWith(node);
    return node;
  }

  renderMessage(message, index) {
    const who = message.who;
    const item = el("div", "lwoo-msg lwoo-msg--" + who);
    item.dataset.index = String(index);
    const bubble = el("p", "lwoo-bubble");
    if (who === "user") bubble.appendChild(srOnly(TEXT.you));
    if (who === "bot") bubble.appendChild(srOnly(TEXT.bot));
    if (who === "bot") appendLinkedText(bubble, message.text);
    else bubble.appendChild(document.createTextNode(message.text));
    if (message.text) item.appendChild(bubble);

    if (who === "bot" && Array.isArray(message.quick) && message.quick.length) {
      const group = el("div", "lwoo-quick");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", TEXT.suggestions);
      for (const q of message.quick) {
        const button = el("button", "lwoo-quick-button", q.title);
        button.type = "button";
        button.addEventListener("click", () => {
          if (this.sendPayload(q.payload, q.title, false)) this.input.focus();
        });
        group.appendChild(button);
      }
      item.appendChild(group);
    }

    if (who === "bot" && message.feedback) {
      const feedback = el("div", "lwoo-feedback");
      if (message.feedback === "ask") {
        feedback.setAttribute("role", "group");
        feedback.setAttribute("aria-label", TEXT.feedbackQuestion);
        feedback.appendChild(el("span", "lwoo-feedback-question", TEXT.feedbackQuestion));
        const pair = el("span", "lwoo-feedback-buttons");
        feedback.appendChild(pair);
        for (const [value, icon, label] of [
          ["yes", "\u{1F44D}", TEXT.feedbackYes],
          ["no", "\u{1F44E}", TEXT.feedbackNo],
        ]) {
          const button = el("button", "lwoo-feedback-button lwoo-feedback-" + value);
          button.type = "button";
          button.setAttribute("aria-label", label);
          button.title = label;
          button.appendChild(el("span", "", icon)).setAttribute("aria-hidden", "true");
          button.addEventListener("click", () => this.sendFeedback(index, value));
          pair.appendChild(button);
        }
      } else {
        const thanks = el("span", "lwoo-feedback-thanks", TEXT.feedbackThanks);
        thanks.tabIndex = -1;
        feedback.appendChild(thanks);
      }
      item.appendChild(feedback);
    }
    return item;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** Show the start of the newest answer (long answers are read from the top). */
  scrollToLatest() {
    const anchor =
      this.turnAnchor === null ? null : this.log.querySelector('[data-index="' + this.turnAnchor + '"]');
    if (!anchor) {
      this.scrollToEnd();
      return;
    }
    const bottom = this.log.scrollHeight - this.log.clientHeight;
    this.log.scrollTop = Math.min(Math.max(anchor.offsetTop - 8, 0), bottom);
  }

  /* ----- clearing (shared computers) ----- */

  clearConversation() {
    if (this.socket) {
      if (this.connected) this.socket.emit("end_session", {});
      const socket = this.socket;
      this.socket = null;
      this.connected = false;
      setTimeout(() => socket.disconnect(), 300);
    }
    this.stopWaiting();
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch (err) {
      /* ignore */
    }
    this.state = emptyState();
    this.state.open = true;
    this.log.textContent = "";
    this.input.value = "";
    this.showAlert("");
    this.setStatus(TEXT.cleared);
    this.updatePrivacy();
    saveState(this.state);
    this.acceptButton.focus();
  }
}

function start() {
  if (window.__lwooChatLoaded) return; // embedded twice: keep the first
  window.__lwooChatLoaded = true;
  new LwooChat(readConfig(thisScript)); // eslint-disable-line no-new
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
