// The operators' page: reads operations' /v1/operations/* answers (services/operations/
// api.py) and draws them. Plain JS with no build step and no library; in English and
// Swedish. Everything from the API goes into the page as text, never as HTML.
"use strict";

(() => {
  const KEY_STORE = "redthread.operator-key";
  const LANGUAGE_STORE = "redthread.operations-language";
  const REFRESH_MS = 15000;
  const SVGNS = "http://www.w3.org/2000/svg";

  const TEXTS = {
    en: {
      title: "redthread – operations", skip: "Skip to the content", heading: "Operations",
      lead: "The flow through Kafka, what waits, what was refused and what is owed.",
      autoRefresh: "Refresh every 15 s", refreshNow: "Refresh now", logOut: "Log out", logIn: "Log in", apiKey: "API key",
      logInHelp: "An operator's API key. It is kept in this tab only and forgotten when you close it.",
      updated: "Updated", flowHeading: "Flow per topic, last hour",
      flowHelp: "Records written to each topic in five-minute slices, oldest on the left.",
      lagHeading: "Consumer lag", lagAll: "Partitions without lag too", outboxHeading: "Outboxes",
      outboxHelp: "Committed in a service's database, not yet on Kafka.", deadLettersHeading: "Dead letters",
      deadLettersHelp: "What a consumer refused, and why. Once the cause is fixed, redrive sends the record back under a new id, which the consumer takes once.",
      consumer: "Consumer", sourceTopic: "Source topic", reasonContains: "Reason contains", any: "any", filter: "Filter",
      redrivePreview: "Preview redrive", redrive: "Redrive selected", force: "Quarantined too",
      deliveriesHeading: "Owed deliveries",
      deliveriesHelp: "E-mails, webhooks and feeds that notification has not yet delivered, and those it gave up on.",
      failedHeading: "Given up", resend: "Resend selected",
      // drawn
      topic: "Topic", records: "Records", perSlice: "Per five minutes", group: "Consumer group", partition: "Partition",
      behind: "Records behind", oldestWaiting: "Oldest waiting", service: "Service", waiting: "Waiting", oldest: "Oldest",
      parked: "Parked", caughtUp: "Every consumer group is caught up.", noTopics: "No topics yet.",
      noOutbox: "No service's outbox in this database yet.", noLetters: "No dead letters.",
      refused: "Refused", reason: "Reason", trace: "Trace", select: "Select", selectAll: "Select all shown",
      redriven: (n) => `redriven ${n}×`, quarantined: "quarantined",
      sentBack: (when, by) => `sent back ${when} by ${by}`,
      theRecord: "The refused record", recordKey: "Key", recordHeaders: "Headers", recordValue: "Value",
      cutToFit: "only its start was kept; the whole record is on its source topic", loading: "Loading …", cut: "cut: read it from its topic",
      lettersShown: (shown, total) => shown < total ? `The newest ${shown} of ${total}.` : `${total} in all.`,
      byReason: "By reason", channel: "Channel", pending: "Pending", due: "Due now", oldestDue: "Oldest due",
      held: "Held for a digest", failed: "Given up", noFailed: "Nothing given up.", created: "Created",
      destination: "To", attempts: "Attempts", lastError: "Last error", view: "view",
      wouldRedrive: (n) => `Would redrive ${n}.`, redriveDone: (n) => `Redriven: ${n}. The consumers take each once.`,
      confirmRedrive: (n) => `Send ${n} dead letter(s) back to their topics?`,
      stillQuarantined: (n) => `${n} quarantined, not sent (tick “Quarantined too”).`,
      stillCut: (n) => `${n} cut to fit, not sent.`, pastMax: (n) => `${n} more past the limit.`,
      resent: (n) => `Resent: ${n}.`, notResent: "Not resent:", seconds: (s) => `${s} s`,
      wrongKey: "That key is not valid.", notOperator: "That key is not an operator's.",
      failedToLoad: "Could not load this:", none: "–",
    },
    sv: {
      title: "redthread – drift", skip: "Hoppa till innehållet", heading: "Drift",
      lead: "Flödet genom Kafka, vad som väntar, vad som avvisades och vad som ska levereras.",
      autoRefresh: "Uppdatera var 15:e s", refreshNow: "Uppdatera nu", logOut: "Logga ut", logIn: "Logga in", apiKey: "API-nyckel",
      logInHelp: "En driftansvarigs API-nyckel. Den sparas bara i den här fliken och försvinner när du stänger den.",
      updated: "Uppdaterad", flowHeading: "Flöde per ämne, senaste timmen",
      flowHelp: "Poster skrivna till varje ämne i femminutersintervall, äldst till vänster.",
      lagHeading: "Konsumenternas eftersläpning", lagAll: "Även partitioner utan eftersläpning", outboxHeading: "Utkorgar",
      outboxHelp: "Sparat i en tjänsts databas, ännu inte i Kafka.", deadLettersHeading: "Döda brev",
      deadLettersHelp: "Vad en konsument avvisade, och varför. När orsaken är åtgärdad skickar omsändning tillbaka posten med ett nytt id, som konsumenten tar emot en gång.",
      consumer: "Konsument", sourceTopic: "Ursprungsämne", reasonContains: "Orsaken innehåller", any: "alla", filter: "Filtrera",
      redrivePreview: "Förhandsgranska omsändning", redrive: "Skicka om valda", force: "Även karantänsatta",
      deliveriesHeading: "Leveranser att göra",
      deliveriesHelp: "E-post, webhooks och flöden som notifieringstjänsten ännu inte levererat, och de den gett upp.",
      failedHeading: "Uppgivna", resend: "Skicka valda igen",
      topic: "Ämne", records: "Poster", perSlice: "Per fem minuter", group: "Konsumentgrupp", partition: "Partition",
      behind: "Poster efter", oldestWaiting: "Äldsta väntande", service: "Tjänst", waiting: "Väntar", oldest: "Äldsta",
      parked: "Parkerade", caughtUp: "Alla konsumentgrupper är i fas.", noTopics: "Inga ämnen ännu.",
      noOutbox: "Ingen tjänsts utkorg i databasen ännu.", noLetters: "Inga döda brev.",
      refused: "Avvisad", reason: "Orsak", trace: "Spårning", select: "Välj", selectAll: "Välj alla som visas",
      redriven: (n) => `omsänd ${n} gång(er)`, quarantined: "i karantän",
      sentBack: (when, by) => `skickad tillbaka ${when} av ${by}`,
      theRecord: "Den avvisade posten", recordKey: "Nyckel", recordHeaders: "Huvuden", recordValue: "Värde",
      cutToFit: "bara början sparades; hela posten finns i sitt ursprungsämne", loading: "Hämtar …", cut: "avkortad: läs den i sitt ämne",
      lettersShown: (shown, total) => shown < total ? `De ${shown} senaste av ${total}.` : `${total} totalt.`,
      byReason: "Per orsak", channel: "Kanal", pending: "Väntande", due: "Att skicka nu", oldestDue: "Äldsta att skicka",
      held: "Sparas till sammandrag", failed: "Uppgivna", noFailed: "Inget uppgivet.", created: "Skapad",
      destination: "Till", attempts: "Försök", lastError: "Senaste fel", view: "visa",
      wouldRedrive: (n) => `Skulle skicka om ${n}.`, redriveDone: (n) => `Omsända: ${n}. Konsumenterna tar emot var och en en gång.`,
      confirmRedrive: (n) => `Skicka tillbaka ${n} döda brev till sina ämnen?`,
      stillQuarantined: (n) => `${n} i karantän, inte skickade (kryssa i ”Även karantänsatta”).`,
      stillCut: (n) => `${n} avkortade, inte skickade.`, pastMax: (n) => `${n} till över gränsen.`,
      resent: (n) => `Skickade igen: ${n}.`, notResent: "Inte skickade igen:", seconds: (s) => `${s} s`,
      wrongKey: "Nyckeln är inte giltig.", notOperator: "Nyckeln tillhör inte en driftansvarig.",
      failedToLoad: "Kunde inte hämta detta:", none: "–",
    },
  };

  const state = {
    key: sessionStorage.getItem(KEY_STORE),
    language: localStorage.getItem(LANGUAGE_STORE) || (navigator.language.startsWith("sv") ? "sv" : "en"),
    chosenLetters: new Set(),
    chosenDeliveries: new Set(),
    openLetters: new Map(),  // dead letter id → its record once fetched (null while fetching)
    drawn: {},  // section → its last answer, redrawn when the language changes
    timer: null,
  };

  const t = (name, ...args) => {
    const text = TEXTS[state.language][name];
    return typeof text === "function" ? text(...args) : text;
  };
  const number = (n) => new Intl.NumberFormat(state.language === "sv" ? "sv-SE" : "en-GB").format(n);
  const moment = (iso) => new Intl.DateTimeFormat(state.language === "sv" ? "sv-SE" : "en-GB",
    { dateStyle: "short", timeStyle: "medium" }).format(new Date(iso));
  const seconds = (s) => s == null ? t("none") : t("seconds", new Intl.NumberFormat(
    state.language === "sv" ? "sv-SE" : "en-GB", { maximumFractionDigits: 1 }).format(s));

  // ---- DOM helpers -------------------------------------------------------------

  function h(tag, attributes = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === false || value == null) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.className = value;
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child != null) el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  function table(headers, rows, caption) {
    return h("table", {}, caption ? h("caption", { class: "hidden-caption" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows));
  }

  function link(url, text) {
    return url ? h("a", { href: url, target: "_blank", rel: "noopener" }, text) : t("none");
  }

  function body(section) {
    return document.querySelector(`#${section} .body`);
  }

  // ---- the API -----------------------------------------------------------------

  class Refused extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(path, options = {}) {
    const response = await fetch(`/v1/operations${path}`, {
      ...options,
      headers: { Authorization: `Bearer ${state.key}`, "Content-Type": "application/json" },
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Refused(response.status, answer.detail || response.statusText);
    return answer;
  }

  // ---- sections ----------------------------------------------------------------

  function drawFlow(answer) {
    if (!answer.topics.length) return body("flow").replaceChildren(h("p", {}, t("noTopics")));
    const top = Math.max(1, ...answer.topics.flatMap((topic) => topic.per_slice));
    const rows = answer.topics.map((topic) => h("tr", { "data-topic": topic.topic },
      h("th", { scope: "row" }, topic.topic),
      h("td", { class: "number" }, number(topic.total)),
      h("td", {}, sparkline(topic.per_slice, top, answer.slice_seconds))));
    body("flow").replaceChildren(table([t("topic"), t("records"), t("perSlice")], rows));
  }

  function sparkline(counts, top, sliceSeconds) {
    const width = 12 * counts.length;
    const svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} 24`);
    svg.setAttribute("class", "spark");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", counts.map(number).join(", "));
    counts.forEach((count, n) => {
      const height = count ? Math.max(2, Math.round((count / top) * 22)) : 0;
      const bar = document.createElementNS(SVGNS, "rect");
      bar.setAttribute("x", n * 12 + 1);
      bar.setAttribute("y", 24 - height);
      bar.setAttribute("width", 10);
      bar.setAttribute("height", height);
      const title = document.createElementNS(SVGNS, "title");
      const minutesAgo = Math.round(((counts.length - n) * sliceSeconds) / 60);
      title.textContent = `−${minutesAgo} min: ${number(count)}`;
      bar.append(title);
      svg.append(bar);
    });
    return svg;
  }

  function drawLag(rows) {
    const all = document.getElementById("lag-all").checked;
    const shown = rows.filter((row) => all || row.records > 0);
    if (!shown.length) return body("lag").replaceChildren(h("p", { class: "fine" }, t("caughtUp")));
    body("lag").replaceChildren(table([t("group"), t("topic"), t("partition"), t("behind"), t("oldestWaiting")],
      shown.map((row) => h("tr", { class: row.records ? "behind" : "" },
        h("td", {}, row.group), h("td", {}, row.topic), h("td", { class: "number" }, row.partition),
        h("td", { class: "number" }, number(row.records)), h("td", { class: "number" }, seconds(row.seconds))))));
  }

  function drawOutbox(rows) {
    if (!rows.length) return body("outbox").replaceChildren(h("p", {}, t("noOutbox")));
    body("outbox").replaceChildren(table([t("service"), t("waiting"), t("oldest"), t("parked")],
      rows.map((row) => h("tr", { class: row.parked ? "behind" : "" },
        h("th", { scope: "row" }, row.service), h("td", { class: "number" }, number(row.waiting)),
        h("td", { class: "number" }, seconds(row.oldest_seconds)), h("td", { class: "number" }, number(row.parked))))));
  }

  function fillChoices(select, values) {
    const kept = select.value;
    select.replaceChildren(h("option", { value: "" }, t("any")), values.map((v) => h("option", { value: v }, v)));
    select.value = values.includes(kept) ? kept : "";
  }

  function drawDeadLetters(answer) {
    fillChoices(document.getElementById("filter-consumer"), answer.consumers);
    fillChoices(document.getElementById("filter-topic"), answer.source_topics);
    const reasons = document.querySelector("#dead-letters .reasons");
    const top = Math.max(1, ...answer.by_reason.map((r) => r.count));
    reasons.replaceChildren(answer.by_reason.length ? h("div", {}, h("h3", {}, t("byReason")),
      h("ul", { class: "bars" }, answer.by_reason.map((r) => h("li", {},
        h("span", { class: "bar", style: `width:${Math.max(2, (r.count / top) * 100)}%` }),
        h("span", { class: "count" }, number(r.count)), h("span", { class: "what" }, r.reason))))) : "");
    const present = new Set(answer.letters.map((l) => l.dead_letter_id));
    for (const id of [...state.chosenLetters]) if (!present.has(id)) state.chosenLetters.delete(id);
    if (!answer.letters.length) {
      body("dead-letters").replaceChildren(h("p", { class: "fine" }, t("noLetters")));
    } else {
      const all = h("input", { type: "checkbox", "aria-label": t("selectAll"), onchange: (e) => {
        for (const letter of answer.letters) {
          if (e.target.checked && !letter.cut) state.chosenLetters.add(letter.dead_letter_id);
          else state.chosenLetters.delete(letter.dead_letter_id);
        }
        drawDeadLetters(answer);
      } });
      all.checked = answer.letters.every((l) => l.cut || state.chosenLetters.has(l.dead_letter_id));
      const rows = answer.letters.map((letter) => {
        const box = h("input", { type: "checkbox", "aria-label": `${t("select")} ${letter.dead_letter_id}`,
          disabled: letter.cut, onchange: (e) => {
            if (e.target.checked) state.chosenLetters.add(letter.dead_letter_id);
            else state.chosenLetters.delete(letter.dead_letter_id);
            enableActions();
          } });
        box.checked = state.chosenLetters.has(letter.dead_letter_id);
        const flags = [
          letter.redrive_count ? h("span", { class: "badge" }, t("redriven", letter.redrive_count)) : null,
          letter.quarantined ? h("span", { class: "badge badge--bad" }, t("quarantined")) : null,
          letter.cut ? h("span", { class: "badge badge--bad" }, t("cut")) : null,
          letter.redriven.length ? h("span", { class: "badge badge--done" },
            t("sentBack", moment(letter.redriven[0].at), letter.redriven[0].by)) : null,
        ];
        return h("tr", { "data-letter": letter.dead_letter_id },
          h("td", {}, box),
          h("td", {}, h("time", { datetime: letter.failed_at }, moment(letter.failed_at))),
          h("td", {}, letter.consumer),
          h("td", {}, letter.source_topic),
          h("td", { class: "reason" }, letter.reason,
            letter.problems.map((p) => h("div", { class: "problem" }, `${p.location}: ${p.message}`)), flags,
            recordOf(letter)),
          h("td", {}, link(letter.trace_url, t("view"))));
      });
      body("dead-letters").replaceChildren(
        h("p", { class: "help" }, t("lettersShown", answer.letters.length, answer.total)),
        table([all, t("refused"), t("consumer"), t("sourceTopic"), t("reason"), t("trace")], rows));
    }
    enableActions();
  }

  // The refused record, fetched when its <details> is first opened, kept open across redraws.
  function recordOf(letter) {
    const id = letter.dead_letter_id;
    const shown = h("div", { class: "record" });
    const details = h("details", { class: "record-details", ontoggle: async () => {
      if (!details.open) return state.openLetters.delete(id);
      if (!state.openLetters.has(id)) {
        state.openLetters.set(id, null);
        shown.replaceChildren(t("loading"));
        try {
          state.openLetters.set(id, await api(`/dead-letters/${encodeURIComponent(id)}`));
        } catch (error) {
          state.openLetters.delete(id);
          return shown.replaceChildren(h("p", { class: "message error" }, `${t("failedToLoad")} ${error.message}`));
        }
      }
      fillRecord(shown, state.openLetters.get(id));
    } }, h("summary", {}, t("theRecord")), shown);
    if (state.openLetters.get(id)) {
      details.open = true;
      fillRecord(shown, state.openLetters.get(id));
    }
    return details;
  }

  function fillRecord(shown, record) {
    if (!record) return;
    shown.replaceChildren(
      h("dl", {},
        h("dt", {}, t("recordKey")), h("dd", {}, record.key ?? t("none")),
        h("dt", {}, t("recordHeaders")), h("dd", {}, h("pre", {}, JSON.stringify(record.headers, null, 2))),
        h("dt", {}, `${t("recordValue")} (${record.value_encoding}, ${number(record.value_bytes ?? 0)} B)`),
        h("dd", {}, h("pre", { class: "record-value" }, record.value),
          record.cut_to_fit ? h("p", { class: "problem" }, t("cutToFit")) : null)));
  }

  function drawDeliveries(answer) {
    document.querySelector("#deliveries .owed").replaceChildren(
      table([t("channel"), t("pending"), t("due"), t("oldestDue"), t("held"), t("failed")],
        answer.owed.map((o) => h("tr", { class: o.failed || o.due ? "behind" : "", "data-channel": o.channel },
          h("th", { scope: "row" }, o.channel), h("td", { class: "number" }, number(o.pending)),
          h("td", { class: "number" }, number(o.due)), h("td", { class: "number" }, seconds(o.oldest_due_seconds)),
          h("td", { class: "number" }, number(o.held)), h("td", { class: "number" }, number(o.failed))))));
    const present = new Set(answer.failed.map((d) => d.delivery_id));
    for (const id of [...state.chosenDeliveries]) if (!present.has(id)) state.chosenDeliveries.delete(id);
    if (!answer.failed.length) {
      body("deliveries").replaceChildren(h("p", { class: "fine" }, t("noFailed")));
    } else {
      body("deliveries").replaceChildren(table(
        [t("select"), t("created"), t("channel"), t("destination"), t("attempts"), t("lastError"), t("trace")],
        answer.failed.map((d) => {
          const box = h("input", { type: "checkbox", "aria-label": `${t("select")} ${d.delivery_id}`, onchange: (e) => {
            if (e.target.checked) state.chosenDeliveries.add(d.delivery_id);
            else state.chosenDeliveries.delete(d.delivery_id);
            enableActions();
          } });
          box.checked = state.chosenDeliveries.has(d.delivery_id);
          return h("tr", { "data-delivery": d.delivery_id }, h("td", {}, box),
            h("td", {}, moment(d.created_at)), h("td", {}, d.channel), h("td", {}, d.destination),
            h("td", { class: "number" }, number(d.attempts)), h("td", { class: "reason" }, d.last_error || ""),
            h("td", {}, link(d.trace_url, t("view"))));
        })));
    }
    enableActions();
  }

  function enableActions() {
    document.getElementById("redrive").disabled = !state.chosenLetters.size;
    document.getElementById("redrive-preview").disabled = !state.chosenLetters.size;
    document.getElementById("resend").disabled = !state.chosenDeliveries.size;
  }

  // ---- loading -----------------------------------------------------------------

  function letterQuery() {
    const query = new URLSearchParams();
    const consumer = document.getElementById("filter-consumer").value;
    const topic = document.getElementById("filter-topic").value;
    const reason = document.getElementById("filter-reason").value.trim();
    if (consumer) query.set("consumer", consumer);
    if (topic) query.set("source_topic", topic);
    if (reason) query.set("reason", reason);
    return query.toString() ? `?${query}` : "";
  }

  const SECTIONS = {
    flow: [() => "/flow", drawFlow],
    lag: [() => "/lag", drawLag],
    outbox: [() => "/outbox", drawOutbox],
    "dead-letters": [() => `/dead-letters${letterQuery()}`, drawDeadLetters],
    deliveries: [() => "/deliveries", drawDeliveries],
  };

  async function load(section) {
    const [path, draw] = SECTIONS[section];
    const card = document.getElementById(section);
    card.setAttribute("aria-busy", "true");
    try {
      state.drawn[section] = await api(path());
      draw(state.drawn[section]);
      card.dataset.loaded = "true";
    } catch (error) {
      if (error instanceof Refused && error.status === 401) return logOut();
      body(section).replaceChildren(h("p", { class: "message error" }, `${t("failedToLoad")} ${error.message}`));
    } finally {
      card.removeAttribute("aria-busy");
    }
  }

  async function refresh() {
    await Promise.all(Object.keys(SECTIONS).map(load));
    const now = new Date();
    const stamp = document.getElementById("updated-at");
    stamp.dateTime = now.toISOString();
    stamp.textContent = moment(now.toISOString());
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.key && document.getElementById("auto-refresh").checked) {
      state.timer = setTimeout(async () => { await refresh(); schedule(); }, REFRESH_MS);
    }
  }

  // ---- acting ------------------------------------------------------------------

  function redriveRequest(dryRun) {
    return { ids: [...state.chosenLetters], dry_run: dryRun, force: document.getElementById("redrive-force").checked,
      max: 1000 };
  }

  function describeRedrive(result) {
    return [
      result.dry_run ? t("wouldRedrive", result.redriven.length) : t("redriveDone", result.redriven.length),
      result.quarantined.length ? t("stillQuarantined", result.quarantined.length) : "",
      result.cut.length ? t("stillCut", result.cut.length) : "",
      result.past_max ? t("pastMax", result.past_max) : "",
    ].filter(Boolean).join(" ");
  }

  async function redrive(dryRun) {
    const message = document.getElementById("redrive-message");
    try {
      if (!dryRun) {
        const preview = await api("/dead-letters/redrive", { method: "POST", body: JSON.stringify(redriveRequest(true)) });
        if (!window.confirm(`${t("confirmRedrive", preview.redriven.length)}\n${describeRedrive(preview)}`)) return;
      }
      const result = await api("/dead-letters/redrive", { method: "POST", body: JSON.stringify(redriveRequest(dryRun)) });
      message.textContent = describeRedrive(result);
      message.className = "message";
      if (!dryRun) {
        state.chosenLetters.clear();
        await load("dead-letters");
      }
    } catch (error) {
      message.textContent = `${t("failedToLoad")} ${error.message}`;
      message.className = "message error";
    }
  }

  async function resend() {
    const message = document.getElementById("resend-message");
    try {
      const result = await api("/deliveries/resend", { method: "POST",
        body: JSON.stringify({ ids: [...state.chosenDeliveries] }) });
      message.textContent = [t("resent", result.resent.length),
        result.refused.length ? `${t("notResent")} ${result.refused.join("; ")}` : ""].filter(Boolean).join(" ");
      message.className = result.refused.length ? "message error" : "message";
      state.chosenDeliveries.clear();
      await load("deliveries");
    } catch (error) {
      message.textContent = `${t("failedToLoad")} ${error.message}`;
      message.className = "message error";
    }
  }

  // ---- logging in and out, language ----------------------------------------------

  async function logIn(key) {
    state.key = key;
    const message = document.getElementById("login-message");
    try {
      const about = await api("/about");
      sessionStorage.setItem(KEY_STORE, key);
      message.textContent = "";
      const who = document.getElementById("who");
      who.textContent = about.operator;
      who.hidden = false;
      for (const id of ["log-out", "refresh-control", "console"]) document.getElementById(id).hidden = false;
      document.getElementById("login").hidden = true;
      await refresh();
      schedule();
    } catch (error) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORE);
      message.textContent = error instanceof Refused && error.status === 403 ? t("notOperator")
        : error instanceof Refused && error.status === 401 ? t("wrongKey") : `${t("failedToLoad")} ${error.message}`;
    }
  }

  function logOut() {
    clearTimeout(state.timer);
    state.key = null;
    sessionStorage.removeItem(KEY_STORE);
    for (const id of ["log-out", "refresh-control", "console", "who"]) document.getElementById(id).hidden = true;
    document.getElementById("login").hidden = false;
  }

  function translate() {
    document.documentElement.lang = state.language;
    for (const id of ["redrive-message", "resend-message"]) document.getElementById(id).textContent = "";
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
    for (const button of document.querySelectorAll(".language")) {
      button.setAttribute("aria-pressed", String(button.dataset.language === state.language));
    }
    for (const [section, [, draw]] of Object.entries(SECTIONS)) {
      if (state.drawn[section]) draw(state.drawn[section]);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    translate();
    for (const button of document.querySelectorAll(".language")) {
      button.addEventListener("click", () => {
        state.language = button.dataset.language;
        localStorage.setItem(LANGUAGE_STORE, state.language);
        translate();
      });
    }
    document.getElementById("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = document.getElementById("api-key").value.trim();
      if (key) logIn(key);
    });
    document.getElementById("log-out").addEventListener("click", logOut);
    document.getElementById("auto-refresh").addEventListener("change", schedule);
    document.getElementById("refresh-now").addEventListener("click", async () => { await refresh(); schedule(); });
    document.getElementById("lag-all").addEventListener("change", () => state.drawn.lag && drawLag(state.drawn.lag));
    document.getElementById("letter-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load("dead-letters");
    });
    document.getElementById("redrive-preview").addEventListener("click", () => redrive(true));
    document.getElementById("redrive").addEventListener("click", () => redrive(false));
    document.getElementById("resend").addEventListener("click", resend);
    if (state.key) logIn(state.key);
  });
})();
