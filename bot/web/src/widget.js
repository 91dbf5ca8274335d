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

// The texts come from the server (GET /widget/texts.json: data/answers/widget.yml and its
// translations, docs/widget.md); this Dutch copy is only used when the server gives none.
const DUTCH = {
  launcher: "Chat met de assistent",
  region: "Chat met de LWOO-assistent",
  title: "LWOO-assistent",
  subtitle: "Digitale assistent van Compaen vmbo, geen mens",
  close: "Chat sluiten",
  language_menu: "Taal",
  language_choose: "Kies uw taal",
  privacy_title: "Voordat u begint",
  privacy_program: "U chat met een computerprogramma, niet met een medewerker van school.",
  privacy_storage:
    "Uw vragen en de antwoorden worden op de server van school bewaard, zodat de " +
    "assistent kan werken en beter kan worden. Deel geen medische of andere gevoelige " +
    "gegevens over uw kind.",
  privacy_tab:
    "Het gesprek blijft zichtbaar in dit tabblad tot u het tabblad sluit. Gebruikt u een " +
    "gedeelde computer? Klik dan na afloop op \u201cGesprek wissen\u201d.",
  accept: "Akkoord, start de chat",
  conversation: "Gesprek",
  input_label: "Uw vraag",
  placeholder: "Typ uw vraag over lwoo\u2026",
  send: "Versturen",
  you: "U:",
  bot: "Assistent:",
  typing: "De assistent typt\u2026",
  connecting: "Verbinden met de assistent\u2026",
  offline:
    "Geen verbinding met de assistent. Ik probeer het automatisch opnieuw. Controleer ook " +
    "uw internetverbinding.",
  refused: "De chat is op deze pagina niet beschikbaar. Neem contact op met de school.",
  not_sent: "Uw bericht is niet verstuurd, want er is geen verbinding. Probeert u het zo opnieuw.",
  no_answer:
    "Er komt geen antwoord. Probeert u het opnieuw, of neem contact op met de administratie " +
    "van school.",
  too_long: "Uw bericht is te lang (meer dan {max} tekens). Wilt u uw vraag korter stellen?",
  expired: "Uw vorige gesprek is verlopen. U begint een nieuw gesprek.",
  cleared: "Het gesprek is gewist.",
  suggestions: "Suggesties",
  feedback_question: "Had u iets aan dit antwoord?",
  feedback_yes: "Ja, dit antwoord hielp mij",
  feedback_no: "Nee, dit antwoord hielp mij niet",
  feedback_thanks: "Bedankt voor uw reactie.",
  new_window: "(opent in een nieuw tabblad)",
  shared_computer: "Gedeelde computer?",
  clear: "Gesprek wissen",
};
const DEFAULT_LANGUAGE = "nl";
const FALLBACK_CATALOG = {
  default: DEFAULT_LANGUAGE,
  languages: [{ code: DEFAULT_LANGUAGE, name: "Nederlands", dir: "ltr" }],
  texts: { [DEFAULT_LANGUAGE]: DUTCH },
  terms: [],
};
const LANGUAGE_CODE = /^[a-z]{2}(-[a-z0-9]{1,8})?$/;
// a run of Latin-script words (a Dutch term, a name, an address) inside right-to-left text
const LATIN_RUN =
  /[\p{Script=Latin}\d]+(?:[-'\u2019.@_/][\p{Script=Latin}\d]+)*(?:\s+[\p{Script=Latin}\d]+(?:[-'\u2019.@_/][\p{Script=Latin}\d]+)*)*/gu;
const HAS_LATIN = /\p{Script=Latin}/u;

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

/* ---------- texts (served by the assistant, Dutch fallback) ---------- */

/** The server's texts.json, checked; null when it is not usable. */
function readCatalog(data) {
  if (!data || typeof data !== "object" || !Array.isArray(data.languages)) return null;
  const languages = data.languages.filter(
    (l) => l && typeof l.code === "string" && LANGUAGE_CODE.test(l.code) &&
      typeof l.name === "string" && l.name && (l.dir === "ltr" || l.dir === "rtl"));
  if (!languages.length || languages[0].code !== DEFAULT_LANGUAGE) return null;
  const texts = {};
  const given = data.texts && typeof data.texts === "object" ? data.texts : {};
  for (const { code } of languages) {
    const own = given[code] && typeof given[code] === "object" ? given[code] : {};
    texts[code] = {};
    for (const key of Object.keys(DUTCH)) {
      if (typeof own[key] === "string" && own[key]) texts[code][key] = own[key];
    }
  }
  const terms = Array.isArray(data.terms) ? data.terms.filter((t) => typeof t === "string") : [];
  return {
    default: DEFAULT_LANGUAGE,
    languages: languages.map((l) => ({ code: l.code, name: l.name, dir: l.dir })),
    texts,
    terms,
  };
}

/** The value for the lang attribute ("nl-b1", simple Dutch, is Dutch: "nl"). */
function htmlLang(code) {
  return String(code || DEFAULT_LANGUAGE).split("-")[0];
}

/* ---------- storage (sessionStorage: this tab only) ---------- */

function emptyState() {
  return {
    token: "", accepted: false, open: false, history: [], at: Date.now(),
    language: DEFAULT_LANGUAGE, told: DEFAULT_LANGUAGE,
  };
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
    const code = (value) =>
      typeof value === "string" && LANGUAGE_CODE.test(value) ? value : DEFAULT_LANGUAGE;
    return {
      token: typeof state.token === "string" ? state.token : "",
      accepted: state.accepted === true,
      open: state.open === true,
      history: state.history.filter(isStoredMessage).slice(-MAX_HISTORY),
      at: state.at,
      language: code(state.language), // the labels' language
      told: code(state.told), // the language the server last heard or answered in
    };
  } catch (err) {
    return emptyState();
  }
}

function isStoredMessage(m) {
  return m && typeof m === "object" && typeof m.text === "string" &&
    (m.who === "bot" || m.who === "user" || m.who === "system") &&
    (m.lang === undefined || (typeof m.lang === "string" && LANGUAGE_CODE.test(m.lang)));
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

/** A closed disclosure button (aria-expanded/aria-controls) with a decorative icon. */
function disclosure(className, controls, icon) {
  const button = el("button", className);
  button.type = "button";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", controls);
  button.appendChild(el("span", className.replace(/-button$/, "") + "-icon", icon))
    .setAttribute("aria-hidden", "true");
  return button;
}

function srOnly(text) {
  return el("span", "lwoo-sr-only", text);
}

/**
 * Append plain ``text`` to ``parent``. In right-to-left text every run of Latin-script
 * words (the Dutch terms kept in a translation, names, addresses) is isolated in a
 * <bdi> (lang="nl" when it is one of the Dutch terms), so it reads left to right and the
 * punctuation around it stays where the sentence puts it.
 */
function appendText(parent, text, rtl, terms) {
  if (!rtl) {
    parent.appendChild(document.createTextNode(text));
    return;
  }
  let last = 0;
  for (const match of text.matchAll(LATIN_RUN)) {
    if (!HAS_LATIN.test(match[0])) continue; // numbers read well on their own
    parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    const isolated = el("bdi", "lwoo-term", match[0]);
    isolated.dir = "ltr";
    const words = match[0].toLowerCase().split(/[\s\-]+/);
    if (terms.some((t) => words.includes(t.toLowerCase()))) isolated.lang = "nl";
    parent.appendChild(isolated);
    last = match.index + match[0].length;
  }
  parent.appendChild(document.createTextNode(text.slice(last)));
}

/** Append ``text`` to ``parent`` with http(s) URLs as safe links (see appendText). */
function appendLinkedText(parent, text, options) {
  const { rtl, terms, newWindow } = options;
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
    appendText(parent, text.slice(last, start), rtl, terms);
    const link = el("a", "lwoo-link", url);
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    if (rtl) link.dir = "ltr"; // an address reads left to right (and is isolated)
    link.appendChild(srOnly(" " + newWindow));
    parent.appendChild(link);
    last = start + url.length;
  }
  appendText(parent, text.slice(last), rtl, terms);
}

/* ---------- the widget ---------- */

class LwooChat {
  constructor(config) {
    this.config = config;
    this.state = loadState();
    this.catalog = FALLBACK_CATALOG;
    this.labels = []; // [node, key, attribute|null]: set again when the language changes
    this.socket = null;
    this.connected = false;
    this.waiting = false;
    this.turnSilent = false;
    this.turnBotIndexes = [];
    this.turnAnchor = null;
    this.answerTimer = null;
    this.queued = []; // payloads sent silently after the current turn (a new conversation)
    this.uid = "lwoo-" + Math.random().toString(36).slice(2, 8);
    this.build();
    this.applyLanguage();
    this.renderHistory();
    this.loadTexts();
    if (this.state.open || config.open) this.open(false);
    if (this.state.accepted) this.connect();
  }

  /* ----- texts and languages ----- */

  /** The text of ``key`` in the current language (Dutch when it has none). */
  t(key, values) {
    const own = this.catalog.texts[this.state.language] || {};
    const dutch = this.catalog.texts[DEFAULT_LANGUAGE] || {};
    let text = own[key] || dutch[key] || DUTCH[key] || "";
    if (values) {
      for (const [name, value] of Object.entries(values)) text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  language(code) {
    return this.catalog.languages.find((l) => l.code === code) || null;
  }

  dirOf(code) {
    const language = this.language(code);
    return language ? language.dir : "ltr";
  }

  loadTexts() {
    if (typeof fetch !== "function") return;
    fetch(this.config.server + "/widget/texts.json", { credentials: "omit", cache: "no-cache" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        const catalog = readCatalog(data);
        if (!catalog) return;
        this.catalog = catalog;
        if (!this.language(this.state.language)) this.state.language = DEFAULT_LANGUAGE;
        this.buildLanguageMenu();
        this.applyLanguage();
        this.renderHistory();
      })
      .catch(() => {
        /* the Dutch texts stay */
      });
  }

  /** Register ``node`` to show the text of ``key`` (as its text, or an attribute). */
  label(node, key, attribute) {
    this.labels.push([node, key, attribute || null]);
    return node;
  }

  /** Labels, lang and dir of the widget in the current language. */
  applyLanguage() {
    const code = this.state.language;
    this.root.lang = htmlLang(code);
    this.root.dir = this.dirOf(code);
    for (const [node, key, attribute] of this.labels) {
      if (attribute) node.setAttribute(attribute, this.t(key));
      else node.textContent = this.t(key);
    }
    const current = this.language(code) || this.catalog.languages[0];
    this.langCurrent.textContent = current.name;
    this.langCurrent.lang = htmlLang(current.code);
    this.langCurrent.dir = current.dir;
    for (const option of this.langOptions.querySelectorAll(".lwoo-lang-option")) {
      const chosen = option.dataset.code === code;
      if (chosen) option.setAttribute("aria-current", "true");
      else option.removeAttribute("aria-current");
    }
    this.updateInputDirection();
    // the menu is only worth showing with more than one language
    this.langBox.hidden = this.catalog.languages.length < 2;
  }

  updateInputDirection() {
    this.input.dir = this.input.value ? "auto" : this.dirOf(this.state.language);
  }

  /** Show the widget in ``code`` (labels at once); ``tell``: also ask the assistant. */
  setLanguage(code, tell) {
    if (!this.language(code)) return;
    const changed = code !== this.state.language;
    this.state.language = code;
    saveState(this.state);
    if (changed) {
      this.applyLanguage();
      this.renderHistory();
    }
    if (tell && code !== this.state.told && this.socket && this.connected) {
      const language = this.language(code);
      this.tellLanguage(code, { text: language.name, lang: code });
    }
  }

  /** Send the language choice to the assistant; ``shown``: the parent's message. */
  tellLanguage(code, shown) {
    const payload = "/switch_language" + JSON.stringify({ language: code });
    // its confirmation needs no "did this answer help you?"
    if (this.sendPayload(payload, shown, true)) {
      this.state.told = code;
      saveState(this.state);
      return true;
    }
    return false;
  }

  /* ----- building the DOM ----- */

  build() {
    const root = el("aside", "lwoo-chat");
    this.label(root, "region", "aria-label");
    root.hidden = true; // shown once the stylesheet has loaded
    this.root = root;

    const launcher = disclosure("lwoo-launcher", this.uid + "-panel", "\u{1F4AC}");
    launcher.appendChild(this.label(el("span", "lwoo-launcher-text"), "launcher"));
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
    const title = this.label(el("h2", "lwoo-title"), "title");
    title.id = this.uid + "-title";
    titles.appendChild(title);
    titles.appendChild(this.label(el("p", "lwoo-subtitle"), "subtitle"));
    titles.appendChild(this.buildLanguageBox());
    header.appendChild(titles);
    const close = el("button", "lwoo-close");
    close.type = "button";
    this.label(close, "close", "aria-label");
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
    privacy.appendChild(this.label(el("h3", "lwoo-privacy-title"), "privacy_title"));
    for (const key of ["privacy_program", "privacy_storage", "privacy_tab"]) {
      privacy.appendChild(this.label(el("p"), key));
    }
    const accept = this.label(el("button", "lwoo-accept"), "accept");
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
    this.label(log, "conversation", "aria-label");
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
    typing.appendChild(this.label(el("span", "lwoo-typing-text"), "typing"));
    this.typing = typing;
    panel.appendChild(typing);

    const form = el("form", "lwoo-form");
    form.noValidate = true;
    const label = this.label(el("label", "lwoo-sr-only"), "input_label");
    label.htmlFor = this.uid + "-input";
    const input = el("input", "lwoo-input");
    input.id = this.uid + "-input";
    input.type = "text";
    // the parent may type Arabic in a Dutch panel, or Dutch in an Arabic one: what is
    // typed gets its direction from its own letters; the placeholder the panel's
    input.addEventListener("input", () => this.updateInputDirection());
    input.autocomplete = "off";
    input.maxLength = MAX_CHARS;
    this.label(input, "placeholder", "placeholder");
    const send = this.label(el("button", "lwoo-send"), "send");
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
    footer.appendChild(this.label(el("span", "lwoo-footer-text"), "shared_computer"));
    const clear = this.label(el("button", "lwoo-clear"), "clear");
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

  /**
   * The language menu (a disclosure: a button that shows a list of buttons, each
   * language named in its own language). Tab/Enter/Space work as everywhere; arrow keys,
   * Home and End move through the list; Escape closes it and returns to the button.
   */
  buildLanguageBox() {
    const box = el("div", "lwoo-lang");
    const toggle = disclosure("lwoo-lang-button", this.uid + "-languages", "\u{1F310}");
    toggle.appendChild(this.label(el("span", "lwoo-sr-only"), "language_menu"));
    toggle.appendChild(srOnly(": "));
    this.langCurrent = toggle.appendChild(el("span", "lwoo-lang-current"));
    toggle.addEventListener("click", () => this.toggleLanguageMenu(!this.langMenuOpen()));
    box.appendChild(toggle);

    const list = el("ul", "lwoo-lang-list");
    list.id = this.uid + "-languages";
    this.label(list, "language_choose", "aria-label");
    list.hidden = true;
    box.appendChild(list);
    box.addEventListener("keydown", (event) => this.onLanguageKey(event));
    box.addEventListener("focusout", (event) => {
      if (this.langMenuOpen() && !box.contains(event.relatedTarget)) this.toggleLanguageMenu(false);
    });
    this.langBox = box;
    this.langToggle = toggle;
    this.langOptions = list;
    this.buildLanguageMenu();
    return box;
  }

  buildLanguageMenu() {
    const list = this.langOptions;
    list.textContent = "";
    for (const language of this.catalog.languages) {
      const item = el("li", "lwoo-lang-item");
      const option = el("button", "lwoo-lang-option");
      option.type = "button";
      option.dataset.code = language.code;
      option.lang = htmlLang(language.code);
      option.dir = language.dir;
      option.appendChild(el("span", "lwoo-lang-name", language.name));
      option.appendChild(el("span", "lwoo-lang-check", "\u2713")).setAttribute("aria-hidden", "true");
      option.addEventListener("click", () => {
        this.toggleLanguageMenu(false);
        this.langToggle.focus();
        this.setLanguage(language.code, true);
      });
      item.appendChild(option);
      list.appendChild(item);
    }
  }

  langMenuOpen() {
    return !this.langOptions.hidden;
  }

  toggleLanguageMenu(open) {
    this.langOptions.hidden = !open;
    this.langToggle.setAttribute("aria-expanded", String(open));
    if (open) {
      const options = Array.from(this.langOptions.querySelectorAll(".lwoo-lang-option"));
      (options.find((o) => o.dataset.code === this.state.language) || options[0]).focus();
    }
  }

  onLanguageKey(event) {
    if (!this.langMenuOpen()) return;
    const options = Array.from(this.langOptions.querySelectorAll(".lwoo-lang-option"));
    const at = options.indexOf(document.activeElement);
    let next = null;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // closes the menu, not the panel
      this.toggleLanguageMenu(false);
      this.langToggle.focus();
      return;
    }
    if (event.key === "ArrowDown") next = at < 0 ? 0 : (at + 1) % options.length;
    else if (event.key === "ArrowUp") next = at <= 0 ? options.length - 1 : at - 1;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = options.length - 1;
    if (next !== null) {
      event.preventDefault();
      options[next].focus();
    }
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
    this.toggleLanguageMenu(false);
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
    this.setStatus(this.t("connecting"));
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
        this.showAlert(this.t("refused"));
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
      this.addMessage({ who: "system", text: this.t("expired"), lang: this.state.language });
    }
    this.hadToken = true;
    this.state.token = data.resume_token;
    if (isNew) this.state.told = DEFAULT_LANGUAGE; // a new conversation starts in Dutch
    saveState(this.state);
    const greet = isNew && !this.state.history.some((m) => m.who === "bot");
    if (this.state.language !== this.state.told) {
      // chosen before the chat started (or while offline): the assistant hears it first,
      // then (a new conversation) greets in that language
      if (this.tellLanguage(this.state.language, null) && greet) this.queued.push("/greet");
    } else if (greet) {
      // a new conversation starts with the assistant's greeting and suggestions
      this.sendPayload("/greet", null, true);
    }
  }

  setOffline(offline) {
    if (offline) this.showAlert(this.t("offline"));
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
      this.showAlert(this.t("too_long", { max: MAX_CHARS }));
      return;
    }
    if (this.sendPayload(text, { text }, false)) {
      this.input.value = "";
      this.updateInputDirection();
    }
  }

  /**
   * Send ``message``; show ``shown`` ({text, lang?}) as the parent's message (null:
   * nothing shown).
   */
  sendPayload(message, shown, silent) {
    if (!this.socket || !this.connected) {
      this.showAlert(this.t("not_sent"));
      return false;
    }
    this.showAlert("");
    this.removeQuickReplies();
    if (shown !== null) {
      const entry = { who: "user", text: shown.text };
      if (shown.lang) entry.lang = shown.lang;
      this.addMessage(entry);
    }
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
    const meta = data.metadata && typeof data.metadata === "object" ? data.metadata : {};
    const lang =
      typeof meta.language === "string" && LANGUAGE_CODE.test(meta.language)
        ? meta.language
        : DEFAULT_LANGUAGE; // no language: the text is Dutch
    const index = this.addMessage({ who: "bot", text, quick, lang });
    if (this.turnAnchor === null) this.turnAnchor = index;
    this.turnBotIndexes.push(index);
    this.scrollToLatest();
  }

  onTurnDone(data) {
    if (data && typeof data.resume_token === "string") {
      this.state.token = data.resume_token;
    }
    // the panel follows the language the assistant answers in
    if (data && typeof data.language === "string" && this.language(data.language)) {
      this.state.told = data.language;
      this.setLanguage(data.language, false);
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
    const next = this.queued.shift();
    if (next) this.sendPayload(next, null, true);
  }

  sendFeedback(index, value) {
    const message = this.state.history[index];
    if (!message || message.feedback !== "ask") return;
    if (!this.socket || !this.connected) {
      this.showAlert(this.t("not_sent"));
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
        this.showAlert(this.t("no_answer"));
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
    const focused = document.activeElement;
    const keep = focused && this.log.contains(focused) ? focused.className : null;
    this.log.textContent = "";
    this.state.history.forEach((m, i) => this.log.appendChild(this.renderMessage(m, i)));
    if (keep) this.input.focus(); // the focused control was re-rendered
    this.scrollToEnd();
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
    // the language of the message itself (a Dutch notice in an Arabic conversation stays
    // left to right); what the parent typed gets its direction from its own letters
    const lang = message.lang || (who === "user" ? null : DEFAULT_LANGUAGE);
    if (lang) {
      item.lang = htmlLang(lang);
      item.dir = this.dirOf(lang);
    }
    const rtl = Boolean(lang) && this.dirOf(lang) === "rtl";
    const bubble = el("p", "lwoo-bubble");
    if (who === "user") {
      if (!lang) bubble.dir = "auto";
      bubble.appendChild(srOnly(this.t("you") + " "));
    }
    if (who === "bot") bubble.appendChild(srOnly(this.t("bot") + " "));
    const terms = this.catalog.terms;
    if (who === "bot") {
      appendLinkedText(bubble, message.text, { rtl, terms, newWindow: this.t("new_window") });
    } else {
      appendText(bubble, message.text, rtl && who !== "user", terms);
    }
    if (message.text) item.appendChild(bubble);

    if (who === "bot" && Array.isArray(message.quick) && message.quick.length) {
      const group = el("div", "lwoo-quick");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", this.t("suggestions"));
      for (const q of message.quick) {
        const button = el("button", "lwoo-quick-button", q.title);
        button.type = "button";
        button.addEventListener("click", () => {
          if (this.sendPayload(q.payload, { text: q.title, lang: message.lang }, false)) {
            this.input.focus();
          }
        });
        group.appendChild(button);
      }
      item.appendChild(group);
    }

    if (who === "bot" && message.feedback) {
      // in the panel's language (the labels), not necessarily the message's
      const feedback = el("div", "lwoo-feedback");
      feedback.lang = htmlLang(this.state.language);
      feedback.dir = this.dirOf(this.state.language);
      if (message.feedback === "ask") {
        feedback.setAttribute("role", "group");
        feedback.setAttribute("aria-label", this.t("feedback_question"));
        feedback.appendChild(el("span", "lwoo-feedback-question", this.t("feedback_question")));
        const pair = el("span", "lwoo-feedback-buttons");
        feedback.appendChild(pair);
        for (const [value, icon, key] of [
          ["yes", "\u{1F44D}", "feedback_yes"],
          ["no", "\u{1F44E}", "feedback_no"],
        ]) {
          const label = this.t(key);
          const button = el("button", "lwoo-feedback-button lwoo-feedback-" + value);
          button.type = "button";
          button.setAttribute("aria-label", label);
          button.title = label;
          button.appendChild(el("span", "", icon)).setAttribute("aria-hidden", "true");
          button.addEventListener("click", () => this.sendFeedback(index, value));
          pair.appendChild(button);
        }
      } else {
        const thanks = el("span", "lwoo-feedback-thanks", this.t("feedback_thanks"));
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
    this.queued = [];
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch (err) {
      /* ignore */
    }
    const language = this.state.language; // the next person may not read it: the menu is there
    this.state = emptyState();
    this.state.open = true;
    this.state.language = language;
    this.log.textContent = "";
    this.input.value = "";
    this.updateInputDirection();
    this.showAlert("");
    this.setStatus(this.t("cleared"));
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
