/*! shopbot chat widget (protocol v1). One tag embeds it:
 *   <script src="https://chat.example.com/widget.js" data-server="https://chat.example.com"
 *           data-token="(optional signed shopper token)" data-title="Help" data-lang="zh-CN" defer></script>
 * Its own words follow data-lang, else the page's <html lang>: en, zh-CN, es, fr, de, pt, ja
 * (anything else: English). The bot's replies follow the language the shopper writes in.
 * A launcher button and a chat panel live in a shadow root, so host CSS cannot reach them.
 * No framework, no build step. Protocol: docs/protocol.md.
 */
(function () {
  "use strict";
  if (window.__shopbotWidget) return;
  var script = document.currentScript || document.querySelector("script[src*='widget.js']");
  var ds = (script && script.dataset) || {};
  var agentWait = null, agentWaitMs = (parseInt(ds.agentWait, 10) || 90) * 1000;  // data-agent-wait="seconds"
  var server = (ds.server || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/$/, "");
  var wsUrl = server.replace(/^http/, "ws") + "/ws";
  var KEY = "shopbot:" + server;
  var store = {
    get: function () { try { return JSON.parse(localStorage.getItem(KEY) || "{}"); } catch (e) { return {}; } },
    set: function (v) { try { localStorage.setItem(KEY, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  };
  var saved = store.get();
  var sessionId = saved.session_id || null;
  var lastSeq = 0; // history is re-read from the server on every page load
  var parked = false; // true after idle_timeout: no automatic reconnect until the shopper acts
  var ws = null, attempt = 0, open = false, confirmed = false, reconnectTimer = null;
  var outbox = []; // messages not yet confirmed as stored (resent after a reconnect, same message_id)
  var seenMessages = {};
  var current = null; // {turn, el, text} the reply being streamed
  var composing = false; // an IME composition (Chinese, Japanese, ...) is in progress

  // The widget's own words per language (the server's catalog holds the bot's: bot/locales/).
  var STRINGS = {
    "en": { title: "Shop assistant", dialog: "Shop assistant chat", open: "Open chat", close: "Close chat", message: "Message",
      placeholder: "Ask about products or your order...", send: "Send", more: "Tell me more", moreAbout: "Tell me more about {name}",
      thinking: "Thinking...", working: "Working...", waiting: "Waiting for an agent...", joined: "{agent} joined", anAgent: "An agent",
      closed: "The conversation was closed.", back: "Back with the assistant", keepGoing: "Continue with the assistant",
      notSent: "Your message was not sent.", reconnecting: "reconnecting...", tooFast: "You are sending messages too quickly.",
      failed: "Sorry, something went wrong. Please try again." },
    "zh-CN": { title: "购物助手", dialog: "购物助手对话", open: "打开对话", close: "关闭对话", message: "消息",
      placeholder: "咨询商品或您的订单……", send: "发送", more: "了解详情", moreAbout: "详细介绍一下{name}",
      thinking: "正在思考……", working: "正在处理……", waiting: "正在等待人工客服……", joined: "{agent} 已加入", anAgent: "客服",
      closed: "对话已结束。", back: "已回到购物助手", keepGoing: "继续与购物助手对话",
      notSent: "您的消息未发送。", reconnecting: "正在重新连接……", tooFast: "您发送消息太快了。",
      failed: "抱歉，出了点问题，请重试。" },
    "es": { title: "Asistente de la tienda", dialog: "Chat con el asistente de la tienda", open: "Abrir chat", close: "Cerrar chat", message: "Mensaje",
      placeholder: "Pregunta por productos o por tu pedido...", send: "Enviar", more: "Más información", moreAbout: "Cuéntame más sobre {name}",
      thinking: "Pensando...", working: "Trabajando...", waiting: "Esperando a un agente...", joined: "{agent} se ha unido", anAgent: "Un agente",
      closed: "La conversación se ha cerrado.", back: "De vuelta con el asistente", keepGoing: "Seguir con el asistente",
      notSent: "Tu mensaje no se ha enviado.", reconnecting: "reconectando...", tooFast: "Estás enviando mensajes demasiado rápido.",
      failed: "Lo siento, algo ha fallado. Inténtalo de nuevo." },
    "fr": { title: "Assistant de la boutique", dialog: "Discussion avec l'assistant de la boutique", open: "Ouvrir la discussion", close: "Fermer la discussion", message: "Message",
      placeholder: "Posez une question sur un produit ou votre commande...", send: "Envoyer", more: "En savoir plus", moreAbout: "Dites-m'en plus sur {name}",
      thinking: "Réflexion...", working: "Traitement...", waiting: "En attente d'un conseiller...", joined: "{agent} a rejoint la discussion", anAgent: "Un conseiller",
      closed: "La conversation est terminée.", back: "De retour avec l'assistant", keepGoing: "Continuer avec l'assistant",
      notSent: "Votre message n'a pas été envoyé.", reconnecting: "reconnexion...", tooFast: "Vous envoyez des messages trop vite.",
      failed: "Désolé, un problème est survenu. Veuillez réessayer." },
    "de": { title: "Shop-Assistent", dialog: "Chat mit dem Shop-Assistenten", open: "Chat öffnen", close: "Chat schließen", message: "Nachricht",
      placeholder: "Fragen Sie nach Produkten oder Ihrer Bestellung...", send: "Senden", more: "Mehr erfahren", moreAbout: "Erzähl mir mehr über {name}",
      thinking: "Denke nach...", working: "Wird bearbeitet...", waiting: "Warten auf einen Mitarbeiter...", joined: "{agent} ist beigetreten", anAgent: "Ein Mitarbeiter",
      closed: "Das Gespräch wurde beendet.", back: "Zurück beim Assistenten", keepGoing: "Mit dem Assistenten weitermachen",
      notSent: "Ihre Nachricht wurde nicht gesendet.", reconnecting: "Verbindung wird wiederhergestellt...", tooFast: "Sie senden Nachrichten zu schnell.",
      failed: "Leider ist etwas schiefgelaufen. Bitte versuchen Sie es erneut." },
    "pt": { title: "Assistente da loja", dialog: "Chat com o assistente da loja", open: "Abrir chat", close: "Fechar chat", message: "Mensagem",
      placeholder: "Pergunte sobre produtos ou seu pedido...", send: "Enviar", more: "Saiba mais", moreAbout: "Me fale mais sobre {name}",
      thinking: "Pensando...", working: "Processando...", waiting: "Aguardando um atendente...", joined: "{agent} entrou", anAgent: "Um atendente",
      closed: "A conversa foi encerrada.", back: "De volta com o assistente", keepGoing: "Continuar com o assistente",
      notSent: "Sua mensagem não foi enviada.", reconnecting: "reconectando...", tooFast: "Você está enviando mensagens rápido demais.",
      failed: "Desculpe, algo deu errado. Tente novamente." },
    "ja": { title: "ショップアシスタント", dialog: "ショップアシスタントとのチャット", open: "チャットを開く", close: "チャットを閉じる", message: "メッセージ",
      placeholder: "商品やご注文について質問する…", send: "送信", more: "詳しく見る", moreAbout: "{name}について詳しく教えて",
      thinking: "考えています…", working: "処理しています…", waiting: "担当者を待っています…", joined: "{agent}が参加しました", anAgent: "担当者",
      closed: "会話は終了しました。", back: "アシスタントに戻りました", keepGoing: "アシスタントとの会話を続ける",
      notSent: "メッセージは送信されませんでした。", reconnecting: "再接続しています…", tooFast: "メッセージの送信が速すぎます。",
      failed: "申し訳ありません、問題が発生しました。もう一度お試しください。" }
  };
  // A BCP 47 tag -> one of ours ("zh-Hans" -> "zh-CN", "pt-BR" -> "pt"); traditional Chinese and
  // languages we have no strings for fall back to English.
  function pickLanguage(tag) {
    var t = String(tag || "").trim().replace(/_/g, "-").toLowerCase();
    if (t === "zh" || t === "zh-cn" || t === "zh-hans" || t === "zh-sg" || t === "zh-hans-cn") return "zh-CN";
    var primary = t.split("-")[0];
    return primary !== "zh" && STRINGS[primary] ? primary : "en";
  }
  var lang = pickLanguage(ds.lang || document.documentElement.lang);
  var T = STRINGS[lang];
  function say(key, fields) {
    return T[key].replace(/\{(\w+)\}/g, function (_, name) { return fields && fields[name] != null ? fields[name] : ""; });
  }

  var CSS = [
    ":host{all:initial}",
    // CJK fonts after the Latin ones (Latin text keeps its look); Japanese prefers Japanese glyphs.
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Micro Hei',sans-serif}",
    ":lang(ja) *{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Hiragino Sans','Yu Gothic UI','Meiryo','Noto Sans CJK JP','Source Han Sans JP','WenQuanYi Micro Hei',sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;background:#1f5f8b;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.3);z-index:2147483000}",
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f0a500;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:92px;width:380px;height:560px;max-height:calc(100vh - 110px);background:#fff;color:#1b1b1b;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000;font-size:15px}",
    ".panel[hidden]{display:none}",
    "header{background:#1f5f8b;color:#fff;padding:12px 14px;display:flex;align-items:center;justify-content:space-between}",
    "header h2{margin:0;font-size:16px}",
    "header button{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer}",
    ".conn{font-size:12px;opacity:.85;margin-left:8px}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f5f7f9}",
    ".log>*{flex-shrink:0}",
    ".launcher svg{width:28px;height:28px;fill:currentColor;vertical-align:middle}",
    // Long ids and URLs wrap anywhere; CJK text breaks between characters but never before a
    // closing mark such as 。or ）(line-break:strict).
    ".msg{max-width:85%;padding:8px 12px;border-radius:12px;line-height:1.4;white-space:pre-wrap;overflow-wrap:anywhere;word-break:normal;line-break:strict}",
    ":lang(zh-CN) .msg,:lang(ja) .msg{line-height:1.6}",
    ".user{align-self:flex-end;background:#1f5f8b;color:#fff}",
    ".bot{align-self:flex-start;background:#fff;border:1px solid #dde3e8}",
    ".agent{align-self:flex-start;background:#fff7e0;border:1px solid #f0d58a}",
    ".agent .who{display:block;font-size:11px;color:#8a6d1b;margin-bottom:2px}",
    ".note{align-self:center;font-size:12px;color:#5b6770;text-align:center}",
    ".cards{display:flex;gap:8px;overflow-x:auto;padding-bottom:4px;align-self:stretch}",
    ".card{flex:0 0 150px;background:#fff;border:1px solid #dde3e8;border-radius:10px;padding:8px;display:flex;flex-direction:column;gap:4px}",
    ".card img,.card .ph{width:100%;height:90px;object-fit:contain;border-radius:6px;background:#eef2f5}",
    ".card .ph{display:flex;align-items:center;justify-content:center;font-size:30px;color:#8a99a6}",
    ".card .name{font-weight:600;font-size:13px;overflow-wrap:anywhere}",
    ".card .price{color:#1f5f8b;font-weight:600;font-size:13px}",
    ".card button,.quick button{border:1px solid #1f5f8b;color:#1f5f8b;background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer;font-size:13px}",
    ".quick{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start}",
    ".status{min-height:20px;padding:2px 14px;font-size:12px;color:#5b6770;background:#f5f7f9}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #dde3e8;background:#fff}",
    "textarea{flex:1;resize:none;border:1px solid #c5ced6;border-radius:10px;padding:8px;font-size:15px;height:42px}",
    "form button{background:#1f5f8b;color:#fff;border:0;border-radius:10px;padding:0 14px;font-size:15px;cursor:pointer}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:520px){.panel{right:0;bottom:0;width:100vw;height:100vh;max-height:100vh;border-radius:0}.launcher{right:14px;bottom:14px}}"
  ].join("\n");

  var host = document.createElement("div");
  host.id = "shopbot-widget";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + CSS + "</style>" +
    '<button class="launcher" part="launcher" aria-expanded="false" aria-controls="sb-panel"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z"/></svg></button>' +
    '<section class="panel" id="sb-panel" role="dialog" hidden>' +
    '<header><div><h2></h2><span class="conn" aria-hidden="true"></span></div><button class="close">&times;</button></header>' +
    '<div class="log" role="log" aria-live="polite" aria-relevant="additions" tabindex="0"></div>' +
    '<div class="status" role="status" aria-live="polite"></div>' +
    '<div class="sr" aria-live="assertive"></div>' +
    '<form><label class="sr" for="sb-input"></label><textarea id="sb-input" rows="1" maxlength="4000"></textarea>' +
    '<button type="submit"></button></form></section>';
  var $ = function (sel) { return root.querySelector(sel); };
  var launcher = $(".launcher"), panel = $(".panel"), log = $(".log"), statusEl = $(".status"),
      alertEl = $(".sr[aria-live=assertive]"), input = $("textarea"), form = $("form"), conn = $(".conn");
  $("h2").textContent = ds.title || T.title;
  panel.lang = lang;  // fonts, line breaking and screen readers follow it
  panel.setAttribute("aria-label", T.dialog);
  launcher.setAttribute("aria-label", T.open);
  $(".close").setAttribute("aria-label", T.close);
  $("label").textContent = T.message;
  input.placeholder = T.placeholder;
  $("form button").textContent = T.send;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function setOpen(v) {
    open = v; panel.hidden = !v;
    launcher.setAttribute("aria-expanded", String(v));
    launcher.setAttribute("aria-label", v ? T.close : T.open);
    if (v) { input.focus(); scroll(); connect(); }
  }
  launcher.addEventListener("click", function () { setOpen(!open); });
  $(".close").addEventListener("click", function () { setOpen(false); launcher.focus(); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { setOpen(false); launcher.focus(); } });
  // Enter that confirms an IME candidate (Chinese, Japanese, Korean input) is not "send": during a
  // composition keydown has isComposing (Chrome, Firefox) or keyCode 229 (Safari, after compositionend).
  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () { composing = false; });
  input.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.shiftKey || composing || e.isComposing || e.keyCode === 229) return;
    e.preventDefault(); form.requestSubmit ? form.requestSubmit() : send(input.value);
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); });

  function price(p) { return typeof p === "number" ? "$" + p.toFixed(2) : ""; }
  function renderCards(cards) {
    if (!cards || !cards.length) return;
    var row = el("div", "cards");
    row.setAttribute("role", "list");
    cards.forEach(function (c) {
      var card = el("div", "card");
      card.setAttribute("role", "listitem");
      if (c.image) { var img = el("img"); img.src = c.image; img.alt = c.name || ""; img.loading = "lazy"; card.appendChild(img); }
      else { var ph = el("div", "ph", (c.name || "?").charAt(0).toUpperCase()); ph.setAttribute("aria-hidden", "true"); card.appendChild(ph); }
      card.appendChild(el("div", "name", c.name));
      card.appendChild(el("div", "price", price(c.price)));
      var more = el("button", null, T.more);
      more.type = "button";
      more.setAttribute("aria-label", say("moreAbout", { name: c.name }));
      more.addEventListener("click", function () { send(say("moreAbout", { name: c.name }), "product:" + c.id); });
      card.appendChild(more);
      row.appendChild(card);
    });
    log.appendChild(row);
  }
  function renderQuick(replies) {
    var old = root.querySelectorAll(".quick");
    for (var i = 0; i < old.length; i++) old[i].remove();
    if (!replies || !replies.length) return;
    var row = el("div", "quick");
    replies.forEach(function (q) {
      var b = el("button", null, q.title);
      b.type = "button";
      b.addEventListener("click", function () { row.remove(); send(q.title, q.payload); });
      row.appendChild(b);
    });
    log.appendChild(row);
  }
  function bubble(cls, text) { var b = el("div", "msg " + cls, text); log.appendChild(b); scroll(); return b; }

  function handle(f) {
    if (typeof f.seq === "number" && f.type !== "session_confirm") {
      if (f.seq <= lastSeq && f.type !== "error") return; // already shown
      lastSeq = Math.max(lastSeq, f.seq);
    }
    switch (f.type) {
      case "session_confirm":
        confirmed = true; attempt = 0;
        if (sessionId && sessionId !== f.session_id) { log.textContent = ""; lastSeq = 0; }
        sessionId = f.session_id; store.set({ session_id: sessionId });
        conn.textContent = "";
        outbox.forEach(function (m) { ws.send(JSON.stringify(m)); });
        break;
      case "user_uttered":
        delete seenMessages[f.message_id];
        outbox = outbox.filter(function (m) { return m.message_id !== f.message_id; });
        var mine = f.message_id && root.querySelector('[data-mid="' + f.message_id + '"]');
        if (mine) { mine.textContent = f.text; mine.removeAttribute("data-pending"); }
        else if (f.text) bubble("user", f.text);
        break;
      case "status":
        // A tool's label comes from the server in English: in another language, the widget's own word.
        statusEl.textContent = f.state === "thinking" ? T.thinking : f.state === "tool" ? (lang === "en" && f.label || T.working) : "";
        if (f.state === "idle" && current && !current.done) { current.el.remove(); current = null; }
        break;
      case "bot_delta":
        if (!current || current.turn !== f.turn_id) current = { turn: f.turn_id, el: bubble("bot", ""), text: "" };
        current.text += f.text; current.el.textContent = current.text; scroll();
        break;
      case "bot_uttered":
        var b = current && current.turn === f.turn_id ? current.el : bubble("bot", "");
        b.textContent = f.text;
        if (current) current.done = true;
        current = null;
        renderCards(f.cards); renderQuick(f.quick_replies);
        alertEl.textContent = f.text; scroll();
        break;
      case "agent_uttered":
        var a = bubble("agent", ""); a.appendChild(el("span", "who", f.agent)); a.appendChild(document.createTextNode(f.text));
        alertEl.textContent = f.agent + ": " + f.text;
        break;
      case "handoff":
        clearTimeout(agentWait);
        if (current && !current.done) { current.el.remove(); current = null; }  // a cut-off reply
        var note = f.state === "handoff_requested" ? T.waiting :
          f.state === "human" ? say("joined", { agent: f.agent || T.anAgent }) :
          f.state === "resolved" ? T.closed : T.back;
        log.appendChild(el("div", "note", note));
        alertEl.textContent = note;
        if (f.state === "handoff_requested") {
          // Nobody joined in time: offer to go on with the assistant.
          agentWait = setTimeout(function () {
            renderQuick([{ title: T.keepGoing, payload: "/continue_with_bot" }]);
          }, agentWaitMs);
        }
        break;
      case "moderation":
        if (f.action === "block") log.appendChild(el("div", "note", T.notSent));
        break;
      case "error":
        if (f.code === "unknown_session") { sessionId = null; store.set({}); log.textContent = ""; lastSeq = 0; ws.close(); return; }
        // Closed for idleness (or refused for good): stay closed until the shopper acts again.
        if (f.code === "idle_timeout" || f.code === "origin_not_allowed" || f.code === "invalid_token" || f.code === "token_required") parked = true;
        if (f.code === "rate_limited") statusEl.textContent = T.tooFast;
        else if (f.code === "engine_unavailable" || f.code === "internal_error" || f.code === "storage_unavailable") statusEl.textContent = T.failed;
        break;
    }
    scroll();
  }

  function send(text, payload) {
    text = (text || "").trim();
    if (!text) return;
    var mid = "m" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    var msg = { type: "user_uttered", text: text, message_id: mid, payload: payload || null };
    var b = bubble("user", text); b.setAttribute("data-mid", mid); b.setAttribute("data-pending", "1");
    renderQuick([]);
    outbox.push(msg);
    if (ws && ws.readyState === 1 && confirmed) ws.send(JSON.stringify(msg));
    else connect();
    input.value = "";
  }

  function connect() {
    if (ws && (ws.readyState === 0 || ws.readyState === 1)) return;
    parked = false;
    clearTimeout(reconnectTimer);
    confirmed = false;
    try { ws = new WebSocket(wsUrl); } catch (e) { schedule(); return; }
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "session_request", session_id: sessionId, last_seq: lastSeq, token: ds.token || null }));
    };
    ws.onmessage = function (e) { var f; try { f = JSON.parse(e.data); } catch (x) { return; } handle(f); };
    ws.onclose = function () {
      if (current) { current.el.remove(); current = null; }
      statusEl.textContent = "";
      if (parked) { conn.textContent = ""; return; } // send() or opening the panel connects again
      conn.textContent = T.reconnecting; schedule();
    };
  }
  function schedule() {
    clearTimeout(reconnectTimer);
    var delay = Math.min(10000, 300 * Math.pow(2, attempt++)) * (0.75 + Math.random() * 0.5); // backoff with jitter
    reconnectTimer = setTimeout(connect, delay);
  }
  window.addEventListener("online", function () { attempt = 0; connect(); });

  function mount() {
    document.body.appendChild(host);
    if (!sessionId) return;
    // History over REST first (shown even before the socket is up), then resume after it.
    fetch(server + "/api/sessions/" + encodeURIComponent(sessionId) + "/events?after_seq=0", { credentials: "omit" })
      .then(function (r) {
        if (r.status === 404) { sessionId = null; store.set({}); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (page) { if (page) page.events.forEach(handle); })
      .catch(function () { /* the socket's replay brings the history instead */ })
      .then(function () { if (sessionId) connect(); });
  }
  window.__shopbotWidget = { open: function () { setOpen(true); }, close: function () { setOpen(false); },
    get sessionId() { return sessionId; }, get lastSeq() { return lastSeq; }, get lang() { return lang; } };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
