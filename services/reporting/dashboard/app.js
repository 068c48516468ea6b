// The board's dashboard: reads reporting's /v1/board/* answers (services/reporting/
// board_models.py) and draws them as inline SVG and tables. Plain JS with no build step
// and no library, so what the board sees is exactly what is in the repository.
"use strict";

(() => {
  const NYCKEL_LAGRING = "redthread.api-nyckel";
  const SVGNS = "http://www.w3.org/2000/svg";

  const tal = new Intl.NumberFormat("sv-SE");
  const dagTal = new Intl.NumberFormat("sv-SE", { maximumFractionDigits: 1 });
  const procent = new Intl.NumberFormat("sv-SE", { style: "percent", maximumFractionDigits: 0 });
  const langtDatum = new Intl.DateTimeFormat("sv-SE", { year: "numeric", month: "long", day: "numeric" });
  const tidpunkt = new Intl.DateTimeFormat("sv-SE", { dateStyle: "medium", timeStyle: "short" });

  const STYRKEOMRADEN = {
    P1: "Hållbar och resurseffektiv produktion",
    P2: "Flexibla tillverkningsprocesser",
    P3: "Virtuell produktionsutveckling och simulering",
    P4: "Människan i produktionssystemet",
    P5: "Produkt- och produktionstjänster",
    P6: "Integrerad produkt- och produktionsutveckling",
    "övrigt": "Behov utan angivet styrkeområde",
  };
  const OMRADESKOLUMNER = ["P1", "P2", "P3", "P4", "P5", "P6", "övrigt"];
  // Why answers said "not useful" (contracts.events.NOT_USEFUL_REASON_WORDS, Swedish).
  const SKAL = {
    "not-mature": "Inte moget nog", "not-our-process": "Passar inte processen", "already-known": "Redan känt",
    "too-costly": "För dyrt att prova", "unclear-description": "Otydligt beskrivet", other: "Annat", unstated: "Inget skäl angivet",
  };
  // Produktionslyftet's regions from north to south, then Norway; anything else after.
  const REGIONORDNING = ["Norr", "Mitt", "Norra Mellansverige", "Östra Mellansverige", "Stockholm", "Väst", "Småland", "Syd", "Norge"];

  const FUNNEL_ETIKETTER = {
    published: "Publicerade", matched: "Matchade", notified: "Företag meddelat", useful: "Till nytta", adopted: "Införda",
  };
  const FUNNEL_FARGER = ["#0072b2", "#3d8fc4", "#009e73", "#b8860b", "#d55e00"];
  const STEG = [
    { nyckel: "to_first_match", etikett: "Till första matchning", farg: "#0072b2" },
    { nyckel: "to_notified", etikett: "Till företaget meddelat", farg: "#e69f00" },
    { nyckel: "to_adopted", etikett: "Till infört", farg: "#009e73" },
  ];
  const TIDSLINJETYPER = {
    "participation-recorded": ["deltagande", "Deltagande"],
    "need-submitted": ["behov", "Behov"],
    "need-updated": ["behov", "Behov ändrat"],
    "need-withdrawn": ["behov", "Behov tillbakadraget"],
    "need-resolved": ["behov", "Behov löst"],
    "match-proposed": ["matchning", "Matchning"],
    "match-retracted": ["matchning", "Matchning tillbakadragen"],
    "notification-dispatched": ["meddelande", "Meddelande"],
    "feedback-submitted": ["aterkoppling", "Återkoppling"],
  };

  const TOMT = "Inga data för perioden.";

  const tillstand = {
    nyckel: null,
    start: "",
    slut: "",
    snabbval: "12m",
    uppdelning: "region",
    troskel: 0.5,
    senaste: {},      // section id → the last answer drawn, redrawn on resize
    forfragan: {},    // section id → number of the latest request, so late answers are dropped
  };

  // ---- small DOM helpers: everything from the API goes in as text, never as HTML ----

  function h(tagg, egenskaper = {}, ...barn) {
    const el = document.createElement(tagg);
    satt(el, egenskaper, barn);
    return el;
  }

  function s(tagg, egenskaper = {}, ...barn) {
    const el = document.createElementNS(SVGNS, tagg);
    satt(el, egenskaper, barn);
    return el;
  }

  function satt(el, egenskaper, barn) {
    for (const [namn, varde] of Object.entries(egenskaper)) {
      if (varde === null || varde === undefined || varde === false) continue;
      el.setAttribute(namn, varde === true ? "" : String(varde));
    }
    for (const b of barn.flat()) {
      if (b === null || b === undefined || b === false) continue;
      el.append(b instanceof Node ? b : document.createTextNode(String(b)));
    }
  }

  const $ = (valjare, rot = document) => rot.querySelector(valjare);
  const $$ = (valjare, rot = document) => Array.from(rot.querySelectorAll(valjare));

  function kortad(text, maxTecken) {
    return text.length <= maxTecken ? text : text.slice(0, Math.max(1, maxTecken - 1)) + "…";
  }

  function dagar(varde) {
    return varde === null || varde === undefined ? "–" : `${dagTal.format(varde)} d`;
  }

  function andel(del, helhet) {
    return helhet > 0 ? procent.format(del / helhet) : "–";
  }

  // A step that gives about `antal` round ticks up to at least `max`.
  function jamnSteg(max, antal = 5) {
    if (max <= 0) return 1;
    const grov = max / antal;
    const tiopotens = 10 ** Math.floor(Math.log10(grov));
    for (const f of [1, 2, 2.5, 5, 10]) {
      if (f * tiopotens >= grov) return f * tiopotens;
    }
    return 10 * tiopotens;
  }

  function isoDag(d) {
    const mm = String(d.getMonth() + 1).padStart(2, "0");
    const dd = String(d.getDate()).padStart(2, "0");
    return `${d.getFullYear()}-${mm}-${dd}`;
  }

  function regionsordning(a, b) {
    const ia = REGIONORDNING.indexOf(a), ib = REGIONORDNING.indexOf(b);
    if (ia !== ib) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    return a.localeCompare(b, "sv");
  }

  function omradesnamn(kod) {
    return STYRKEOMRADEN[kod] ? `${kod} ${STYRKEOMRADEN[kod]}` : kod;
  }

  function kalla(source) {
    if (!source) return "okänd";
    if (source.startsWith("/partners/")) return source.slice("/partners/".length);
    if (source.startsWith("/redthread/")) return `redthread (${source.slice("/redthread/".length)})`;
    return source;
  }

  // ---- the API ----

  class ApiFel extends Error {
    constructor(status, titel, detalj) {
      super(titel || `HTTP ${status}`);
      this.status = status;
      this.detalj = detalj;
    }
  }

  async function hamta(sokvag, parametrar = {}, { csv = false } = {}) {
    const url = new URL(sokvag, window.location.origin);
    for (const [namn, varde] of Object.entries(parametrar)) {
      if (varde !== null && varde !== undefined && varde !== "") url.searchParams.set(namn, varde);
    }
    if (csv) url.searchParams.set("format", "csv");
    let svar;
    try {
      svar = await fetch(url, {
        headers: { Authorization: `Bearer ${tillstand.nyckel}`, Accept: csv ? "text/csv" : "application/json" },
      });
    } catch {
      throw new ApiFel(0, "nätverksfel");
    }
    if (!svar.ok) {
      // RFC 9457 problem details; a proxy's HTML error page just leaves them empty
      let problem = {};
      try { problem = await svar.json(); } catch { /* not JSON */ }
      throw new ApiFel(svar.status, problem.title, problem.detail);
    }
    return csv ? svar.blob() : svar.json();
  }

  function felmeddelande(fel) {
    switch (fel.status) {
      case 0: return "Kunde inte nå redthread. Kontrollera anslutningen och försök igen.";
      case 401: return "Nyckeln godtogs inte. Kontrollera API-nyckeln och logga in igen.";
      case 403: return "Ingen behörighet: din nyckel ger inte tillgång till styrelsens siffror.";
      case 404: return "Hittades inte.";
      case 422: return `Ogiltigt val${fel.detalj ? `: ${fel.detalj}` : ""}.`;
      case 429: return "För många förfrågningar just nu. Vänta en stund och försök igen.";
      default: return `Något gick fel (fel ${fel.status}). Försök igen om en stund.`;
    }
  }

  function periodparametrar() {
    return { start: tillstand.start, end: tillstand.slut };
  }

  // ---- sections ----

  function innehall(sektion) {
    return $(`#${sektion} [data-innehall]`);
  }

  function visaTomt(el, text = TOMT) {
    el.replaceChildren(h("p", { class: "tomt" }, text));
  }

  function visaFel(el, fel) {
    el.replaceChildren(h("p", { class: "fel", role: "alert", "data-status": fel.status }, felmeddelande(fel)));
  }

  async function laddaSektion(sektion, hamtare, ritare) {
    const el = innehall(sektion);
    const nummer = (tillstand.forfragan[sektion] || 0) + 1;
    tillstand.forfragan[sektion] = nummer;
    el.setAttribute("aria-busy", "true");
    if (!el.firstChild) el.replaceChildren(h("p", { class: "laddar" }, "Hämtar …"));
    const csvKnapp = $(`#${sektion} button.csv`);
    try {
      const data = await hamtare();
      if (tillstand.forfragan[sektion] !== nummer) return;
      tillstand.senaste[sektion] = { data, ritare };
      ritare(el, data);
      if (csvKnapp) csvKnapp.disabled = false;
    } catch (fel) {
      if (tillstand.forfragan[sektion] !== nummer) return;
      if (!(fel instanceof ApiFel)) throw fel;
      delete tillstand.senaste[sektion];
      if (fel.status === 401) {
        loggaUt(felmeddelande(fel));
        return;
      }
      visaFel(el, fel);
      if (csvKnapp) csvKnapp.disabled = true;
    } finally {
      if (tillstand.forfragan[sektion] === nummer) el.removeAttribute("aria-busy");
    }
  }

  function laddaAllt() {
    return Promise.all([laddaFunnel(), laddaUptake(), laddaCoverage(), laddaVitaFlackar(), laddaReach()]);
  }

  const laddaFunnel = () => laddaSektion("kunskapsflodet", () => hamta("/v1/board/funnel", periodparametrar()), ritaFunnel);
  const laddaUptake = () => laddaSektion(
    "tid-till-nytta", () => hamta("/v1/board/uptake", { ...periodparametrar(), by: tillstand.uppdelning }), ritaUptake);
  const laddaCoverage = () => laddaSektion("regionerna", () => hamta("/v1/board/coverage", periodparametrar()), ritaCoverage);
  const laddaVitaFlackar = () => laddaSektion(
    "vita-flackar", () => hamta("/v1/board/white-spots", { ...periodparametrar(), threshold: tillstand.troskel }),
    ritaVitaFlackar);
  const laddaReach = () => laddaSektion("rackvidd", () => hamta("/v1/board/reach", { ...periodparametrar(), limit: 10 }), ritaReach);

  function bredd(el) {
    return Math.max(300, Math.floor(el.clientWidth || el.parentElement.clientWidth || 600));
  }

  function diagram(bredd, hojd, titel, beskrivning) {
    const id = `d${Math.random().toString(36).slice(2, 9)}`;
    return s("svg", {
      class: "diagram", viewBox: `0 0 ${bredd} ${hojd}`, width: bredd, height: hojd, role: "img",
      "aria-labelledby": `${id}-t ${id}-b`,
    }, s("title", { id: `${id}-t` }, titel), s("desc", { id: `${id}-b` }, beskrivning));
  }

  function sifferTabell(bildtext, rubriker, rader) {
    return h("details", { class: "siffror" },
      h("summary", {}, "Visa siffrorna som tabell"),
      h("div", { class: "tabellram" },
        h("table", {},
          h("caption", { class: "visuellt-dold" }, bildtext),
          h("thead", {}, h("tr", {}, rubriker.map((r, i) => h("th", { scope: "col", class: i ? "tal" : null }, r)))),
          h("tbody", {}, rader.map((rad) => h("tr", {}, rad.map((cell, i) =>
            i ? h("td", { class: "tal" }, cell) : h("th", { scope: "row" }, cell))))))));
  }

  // (a) Kunskapsflödet: a funnel of centred bars, the share that went on between them.
  function ritaFunnel(el, data) {
    const steg = data.stages || [];
    const forsta = steg.length ? steg[0].outputs : 0;
    if (!steg.length || steg.every((x) => x.outputs === 0)) return visaTomt(el);

    const W = bredd(el);
    // On a narrow screen the stage names go above their bars, with the share that went on.
    const smal = W < 520;
    const etikettBredd = smal ? 0 : Math.min(170, Math.round(W * 0.3));
    const talBredd = smal ? 56 : 70;
    const yta = W - etikettBredd - talBredd - (smal ? talBredd : 0);
    const mitt = smal ? W / 2 : etikettBredd + yta / 2;
    const stapelHojd = 34, mellanrum = smal ? 26 : 30;
    const H = steg.length * stapelHojd + (steg.length - 1) * mellanrum + (smal ? 22 : 4);
    const storst = Math.max(...steg.map((x) => x.outputs), 1);
    const langd = (n) => Math.max(n > 0 ? 4 : 1, (n / storst) * yta);

    const beskrivning = steg.map((x) => `${x.label || FUNNEL_ETIKETTER[x.stage]}: ${tal.format(x.outputs)}`).join(", ");
    const svg = diagram(W, H, "Kunskapsflödet", beskrivning);

    steg.forEach((x, i) => {
      const y = i * (stapelHojd + mellanrum) + (smal ? 22 : 0);
      const l = langd(x.outputs);
      const etikett = x.label || FUNNEL_ETIKETTER[x.stage] || x.stage;
      const fore = i > 0 ? steg[i - 1] : null;
      const vidare = fore ? `↓ ${andel(x.outputs, fore.outputs)} gick vidare` : "";
      if (fore) {
        // the narrowing between two stages, and how many went on
        const lf = langd(fore.outputs);
        const yf = y - mellanrum;
        svg.append(s("polygon", {
          points: `${mitt - lf / 2},${yf} ${mitt + lf / 2},${yf} ${mitt + l / 2},${y} ${mitt - l / 2},${y}`,
          fill: FUNNEL_FARGER[i % FUNNEL_FARGER.length], "fill-opacity": "0.12",
        }));
        if (!smal) {
          svg.append(s("text", {
            class: "mild konvertering", x: mitt, y: yf + mellanrum / 2 + 5, "text-anchor": "middle", "data-stage": x.stage,
          }, vidare));
        }
      }
      const namn = smal
        ? s("text", { class: "etikett", x: mitt, y: y - 7, "text-anchor": "middle" }, etikett,
          fore ? s("tspan", { class: "mild konvertering", "data-stage": x.stage }, `  ${vidare}`) : null)
        : s("text", { class: "etikett", x: etikettBredd - 12, y: y + stapelHojd / 2 + 5, "text-anchor": "end" }, etikett);
      const grupp = s("g", { "data-stage": x.stage, "data-outputs": x.outputs },
        s("title", {}, `${etikett}: ${tal.format(x.outputs)} (${andel(x.outputs, forsta)} av publicerade)`),
        namn,
        s("rect", {
          class: "stapel", x: mitt - l / 2, y, width: l, height: stapelHojd, rx: 4,
          fill: FUNNEL_FARGER[i % FUNNEL_FARGER.length],
        }),
        s("text", { class: "antal", x: mitt + l / 2 + 8, y: y + stapelHojd / 2 + 5 }, tal.format(x.outputs)));
      svg.append(grupp);
    });

    const sista = steg[steg.length - 1];
    el.replaceChildren(
      h("ul", { class: "nyckeltal" },
        h("li", {}, h("strong", {}, tal.format(forsta)), h("span", {}, "forskningsresultat publicerade")),
        h("li", {}, h("strong", {}, andel(sista.outputs, forsta)),
          h("span", {}, `nådde hela vägen (${(sista.label || FUNNEL_ETIKETTER[sista.stage] || "").toLowerCase()})`))),
      svg,
      sifferTabell("Kunskapsflödet i siffror", ["Steg", "Forskningsresultat", "Från föregående steg", "Av publicerade"],
        steg.map((x, i) => [x.label || FUNNEL_ETIKETTER[x.stage] || x.stage, tal.format(x.outputs),
          i ? andel(x.outputs, steg[i - 1].outputs) : "–", andel(x.outputs, forsta)])));
  }

  // (b) Tid till nytta: per group three bars (the steps), median as the bar, p90 as a tick.
  function ritaUptake(el, data) {
    let grupper = [...(data.groups || [])];
    if (data.by === "region") grupper.sort((a, b) => regionsordning(a.group, b.group));
    else if (data.by === "focus_area") grupper.sort((a, b) => a.group.localeCompare(b.group, "sv"));
    const overall = data.overall;
    if ((!overall || overall.outputs === 0) && grupper.every((g) => g.outputs === 0)) return visaTomt(el);

    const namn = (g) => (data.by === "focus_area" ? omradesnamn(g.group) : g.group);
    const W = bredd(el);
    const etikettBredd = Math.min(230, Math.round(W * 0.34));
    const hoger = 56;
    const yta = W - etikettBredd - hoger;
    const stapel = 11, glipa = 3, gruppluft = 18, topp = 22;
    const grupphojd = STEG.length * (stapel + glipa) - glipa;
    const H = topp + grupper.length * (grupphojd + gruppluft) + 4;
    const alla = grupper.flatMap((g) => STEG.flatMap((st) => [g[st.nyckel].median_days, g[st.nyckel].p90_days]))
      .filter((v) => v !== null && v !== undefined);
    const max = Math.max(1, ...alla);
    const steg = jamnSteg(max);
    const skalmax = Math.ceil(max / steg) * steg;
    const x = (v) => etikettBredd + (v / skalmax) * yta;

    const svg = diagram(W, H, "Tid till nytta per grupp",
      grupper.map((g) => `${namn(g)}: ${STEG.map((st) => `${st.etikett.toLowerCase()} median ${dagar(g[st.nyckel].median_days)}`).join(", ")}`).join("; "));

    for (let v = 0; v <= skalmax + 1e-9; v += steg) {
      svg.append(s("line", { class: "axel", x1: x(v), x2: x(v), y1: topp - 6, y2: H }),
        s("text", { class: "mild", x: x(v), y: 12, "text-anchor": "middle" }, v === 0 ? "0 dagar" : tal.format(v)));
    }

    grupper.forEach((g, i) => {
      const y0 = topp + i * (grupphojd + gruppluft);
      const grupp = s("g", { "data-grupp": g.group, "data-outputs": g.outputs });
      const teckenplats = Math.floor(etikettBredd / 7.6);
      grupp.append(
        s("text", { class: "etikett", x: etikettBredd - 10, y: y0 + grupphojd / 2 - 2, "text-anchor": "end" },
          s("title", {}, namn(g)), kortad(namn(g), teckenplats)),
        s("text", { class: "mild", x: etikettBredd - 10, y: y0 + grupphojd / 2 + 14, "text-anchor": "end" },
          `${tal.format(g.outputs)} resultat`));
      STEG.forEach((st, j) => {
        const d = g[st.nyckel];
        const y = y0 + j * (stapel + glipa);
        const titel = `${namn(g)} – ${st.etikett.toLowerCase()}: median ${dagar(d.median_days)}, p90 ${dagar(d.p90_days)} (${tal.format(d.count)} resultat)`;
        if (d.median_days === null || d.median_days === undefined) {
          grupp.append(s("text", { class: "mild", x: etikettBredd + 4, y: y + stapel - 1 }, s("title", {}, titel), "ännu inga"));
          return;
        }
        grupp.append(s("rect", {
          class: "stapel", x: etikettBredd, y, width: Math.max(2, x(d.median_days) - etikettBredd), height: stapel,
          fill: st.farg, "data-steg": st.nyckel, "data-median": d.median_days,
        }, s("title", {}, titel)));
        let slutX = x(d.median_days);
        if (d.p90_days !== null && d.p90_days !== undefined) {
          slutX = x(d.p90_days);
          grupp.append(
            s("line", { x1: x(d.median_days), x2: slutX, y1: y + stapel / 2, y2: y + stapel / 2, stroke: "#1b2430", "stroke-width": 1.5 }),
            s("line", { x1: slutX, x2: slutX, y1: y - 1, y2: y + stapel + 1, stroke: "#1b2430", "stroke-width": 2.5 }));
        }
        grupp.append(s("text", { class: "mild", x: slutX + 6, y: y + stapel - 1 }, dagTal.format(d.median_days)));
      });
      svg.append(grupp);
    });

    const kort = overall ? STEG.map((st) => h("li", {},
      h("strong", {}, dagar(overall[st.nyckel].median_days)),
      h("span", {}, st.etikett.toLowerCase()), h("small", {}, `p90: ${dagar(overall[st.nyckel].p90_days)}`))) : [];

    el.replaceChildren(
      h("ul", { class: "nyckeltal" }, kort),
      h("ul", { class: "forklaring", "aria-hidden": "true" },
        STEG.map((st) => h("li", {}, h("i", { style: `background:${st.farg}` }), st.etikett)),
        h("li", {}, h("i", { style: "width:3px;background:#1b2430" }), "90:e percentilen")),
      grupper.length ? svg : h("p", { class: "tomt" }, TOMT),
      sifferTabell("Tid till nytta i dagar",
        ["Grupp", "Resultat", ...STEG.flatMap((st) => [`${st.etikett}: median`, "p90", "antal"])],
        grupper.map((g) => [namn(g), tal.format(g.outputs),
          ...STEG.flatMap((st) => [dagar(g[st.nyckel].median_days), dagar(g[st.nyckel].p90_days), tal.format(g[st.nyckel].count)])])));
  }

  // (c) Regionerna: a table with an inline bar of the needs — matched and told inside it.
  function ritaCoverage(el, data) {
    const regioner = [...(data.regions || [])].sort((a, b) => regionsordning(a.region, b.region));
    if (!regioner.length || regioner.every((r) => r.companies === 0 && r.needs === 0)) return visaTomt(el);
    const maxBehov = Math.max(1, ...regioner.map((r) => r.needs));
    const summa = (falt) => regioner.reduce((t, r) => t + (r[falt] || 0), 0);

    const stapel = (r) => {
      const b = (n) => `${(n / maxBehov) * 100}%`;
      return s("svg", { role: "img", "aria-label": `${tal.format(r.needs)} behov, ${tal.format(r.needs_matched)} matchade, ${tal.format(r.needs_told)} meddelade` },
        s("rect", { x: 0, y: 2, height: 14, width: b(r.needs), fill: "#cfe3f1", rx: 2 }),
        s("rect", { x: 0, y: 2, height: 14, width: b(r.needs_matched), fill: "#56b4e9", rx: 2 }),
        s("rect", { x: 0, y: 2, height: 14, width: b(r.needs_told), fill: "#0072b2", rx: 2 }));
    };

    el.replaceChildren(
      h("ul", { class: "forklaring", "aria-hidden": "true" },
        h("li", {}, h("i", { style: "background:#cfe3f1" }), "behov"),
        h("li", {}, h("i", { style: "background:#56b4e9" }), "matchade"),
        h("li", {}, h("i", { style: "background:#0072b2" }), "någon meddelad")),
      h("div", { class: "tabellram" },
        h("table", { class: "tackning" },
          h("caption", { class: "visuellt-dold" }, "Täckning per region"),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, "Region och IUC"),
            h("th", { scope: "col", class: "tal" }, "Företag"), h("th", { scope: "col", class: "tal" }, "i insatser"),
            h("th", { scope: "col", class: "tal" }, "Behov"), h("th", { scope: "col", class: "tal" }, "Meddelade"),
            h("th", { scope: "col" }, h("span", { class: "visuellt-dold" }, "Behov, matchade och meddelade som stapel")))),
          h("tbody", {}, regioner.map((r) => h("tr", { "data-region": r.region },
            h("th", { scope: "row" }, r.region, r.iuc ? h("small", { class: "iuc" }, r.iuc) : null),
            h("td", { class: "tal" }, tal.format(r.companies)), h("td", { class: "tal" }, tal.format(r.companies_in_initiatives)),
            h("td", { class: "tal" }, tal.format(r.needs)),
            h("td", { class: "tal" }, `${tal.format(r.needs_told)} (${andel(r.needs_told, r.needs)})`),
            h("td", { class: "stapel" }, stapel(r))))),
          h("tfoot", {}, h("tr", {},
            h("th", { scope: "row" }, "Totalt"),
            h("td", { class: "tal" }, tal.format(summa("companies"))), h("td", { class: "tal" }, tal.format(summa("companies_in_initiatives"))),
            h("td", { class: "tal" }, tal.format(summa("needs"))),
            h("td", { class: "tal" }, `${tal.format(summa("needs_told"))} (${andel(summa("needs_told"), summa("needs"))})`),
            h("td", {}))))));
  }

  // (d) Vita fläckar: region × strength area, darker where more needs lack a good answer.
  const HETTA = ["#fff3e6", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603", "#7f2704"];

  function ritaVitaFlackar(el, data) {
    const celler = data.cells || [];
    if (!celler.length || celler.every((c) => c.open_needs === 0)) {
      return visaTomt(el, "Inga öppna behov för perioden.");
    }
    const regioner = [...new Set(celler.map((c) => c.region))].sort(regionsordning);
    const omraden = [...OMRADESKOLUMNER, ...new Set(celler.map((c) => c.focus_area).filter((o) => !OMRADESKOLUMNER.includes(o)))];
    const cell = new Map(celler.map((c) => [`${c.region}\u0000${c.focus_area}`, c]));
    const max = Math.max(1, ...celler.map((c) => c.without_good_match));
    const oppna = celler.reduce((t, c) => t + c.open_needs, 0);
    const utan = celler.reduce((t, c) => t + c.without_good_match, 0);

    const ruta = (region, omrade) => {
      const c = cell.get(`${region}\u0000${omrade}`);
      if (!c || c.open_needs === 0) {
        return h("td", { "data-region": region, "data-omrade": omrade, "data-utan": 0, "data-oppna": 0, style: "background:#f7f8fa;color:#6b7482" }, "–");
      }
      const steg = c.without_good_match === 0 ? 0 : 1 + Math.round((c.without_good_match / max) * (HETTA.length - 2));
      const farg = HETTA[steg];
      return h("td", {
        "data-region": region, "data-omrade": omrade, "data-utan": c.without_good_match, "data-oppna": c.open_needs,
        title: `${region}, ${omradesnamn(omrade)}: ${tal.format(c.without_good_match)} av ${tal.format(c.open_needs)} öppna behov saknar ett bra svar`,
        style: `background:${farg};color:${steg >= 4 ? "#fff" : "#1b2430"}`,
      }, tal.format(c.without_good_match), h("small", {}, `av ${tal.format(c.open_needs)}`));
    };

    el.replaceChildren(
      h("ul", { class: "nyckeltal" },
        h("li", {}, h("strong", {}, tal.format(utan)), h("span", {}, "öppna behov utan bra svar")),
        h("li", {}, h("strong", {}, tal.format(oppna)), h("span", {}, "öppna behov totalt"))),
      h("div", { class: "tabellram" },
        h("table", { class: "karta" },
          h("caption", { class: "visuellt-dold" }, "Öppna behov utan bra svar, per region och styrkeområde"),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Region"),
            omraden.map((o) => h("th", { scope: "col" }, h("abbr", { title: STYRKEOMRADEN[o] || o }, o))))),
          h("tbody", {}, regioner.map((r) => h("tr", {}, h("th", { scope: "row" }, r), omraden.map((o) => ruta(r, o))))))),
      h("div", { class: "skala", "aria-hidden": "true" }, "färre", h("span", { class: "gradient" }), "fler behov utan bra svar"));
  }

  // (e) Räckvidd: the projects and researchers that reached the most companies.
  function ritaReach(el, data) {
    const projekt = [...(data.projects || [])].sort((a, b) => b.companies_told - a.companies_told || b.matches - a.matches).slice(0, 10);
    const forskare = [...(data.researchers || [])].sort((a, b) => b.companies_told - a.companies_told || b.matches - a.matches).slice(0, 10);
    if (!projekt.length && !forskare.length) return visaTomt(el);

    const inlineStapel = (varde, max, farg) => s("svg", { "aria-hidden": "true" },
      s("rect", { x: 0, y: 3, height: 12, width: `${(varde / Math.max(1, max)) * 100}%`, fill: farg, rx: 2 }));
    const maxP = Math.max(1, ...projekt.map((p) => p.companies_told));
    const maxF = Math.max(1, ...forskare.map((f) => f.companies_told));

    const tabell = (bildtext, rubriker, rader, tomText) => rader.length
      ? h("div", { class: "tabellram" }, h("table", {},
        h("caption", {}, bildtext),
        h("thead", {}, h("tr", {}, rubriker.map(([r, klass]) => h("th", { scope: "col", class: klass }, r)))),
        h("tbody", {}, rader)))
      : h("div", {}, h("h3", {}, bildtext), h("p", { class: "tomt" }, tomText));

    // "Inte till nytta": how many answers said so, and why, most common reason first.
    const interNytta = (skal) => {
      const rader = Object.entries(skal || {}).sort((a, b) => b[1] - a[1]);
      const summa = rader.reduce((n, [, antal]) => n + antal, 0);
      return h("td", { class: "tal skal", title: rader.map(([k, antal]) => `${SKAL[k] || k}: ${antal}`).join("\n") },
        tal.format(summa), rader.length ? h("small", {}, " (" + rader.map(([k, antal]) => `${SKAL[k] || k} ${antal}`).join(", ") + ")") : "");
    };

    el.replaceChildren(h("div", { class: "tva-kolumner" },
      tabell("Projekt", [["Projekt"], ["Resultat", "tal"], ["Matchningar", "tal"], ["Företag meddelade", "tal"], ["", "stapel"], ["Till nytta", "tal"], ["Införda", "tal"], ["Inte till nytta, och varför", "tal"]],
        projekt.map((p) => h("tr", { "data-projekt": p.project },
          h("th", { scope: "row" }, p.project), h("td", { class: "tal" }, tal.format(p.outputs)),
          h("td", { class: "tal" }, tal.format(p.matches)), h("td", { class: "tal" }, tal.format(p.companies_told)),
          h("td", { class: "stapel" }, inlineStapel(p.companies_told, maxP, "#0072b2")),
          h("td", { class: "tal" }, tal.format(p.useful)), h("td", { class: "tal" }, tal.format(p.adopted)),
          interNytta(p.not_useful))),
        TOMT),
      tabell("Forskare", [["Forskare"], ["Organisation"], ["Resultat", "tal"], ["Matchningar", "tal"], ["Företag meddelade", "tal"], ["", "stapel"], ["Införda", "tal"], ["Inte till nytta, och varför", "tal"]],
        forskare.map((f) => h("tr", { "data-forskare": f.name },
          h("th", { scope: "row" }, f.name), h("td", {}, f.organisation || "–"),
          h("td", { class: "tal" }, tal.format(f.outputs)), h("td", { class: "tal" }, tal.format(f.matches)),
          h("td", { class: "tal" }, tal.format(f.companies_told)),
          h("td", { class: "stapel" }, inlineStapel(f.companies_told, maxF, "#009e73")),
          h("td", { class: "tal" }, tal.format(f.adopted)), interNytta(f.not_useful))),
        TOMT)));
  }

  // (f) Företagets röda tråd
  const ORGNUMMER = /^\s*(\d{6}-?\d{4}|\d{9}|\d{3}\s?\d{3}\s?\d{3})\s*$/;

  async function sokForetag(fraga) {
    const traffar = $("#foretag-traffar");
    const tidslinje = $("#tidslinje");
    traffar.replaceChildren();
    fraga = fraga.trim();
    if (!fraga) return;
    if (ORGNUMMER.test(fraga)) {
      // a coach may not search every company, but may open the ones it knows the number of
      return visaTidslinje(fraga.replace(/\s/g, ""));
    }
    tidslinje.replaceChildren(h("p", { class: "laddar" }, "Söker …"));
    let foretag;
    try {
      const svar = await hamta("/v1/board/companies", { ...periodparametrar(), q: fraga, limit: 12 });
      foretag = Array.isArray(svar) ? svar : svar.companies || [];
    } catch (fel) {
      if (!(fel instanceof ApiFel)) throw fel;
      if (fel.status === 401) return loggaUt(felmeddelande(fel));
      return visaFel(tidslinje, fel);
    }
    if (!foretag.length) return visaTomt(tidslinje, `Inga företag matchar ”${fraga}”.`);
    if (foretag.length === 1) return visaTidslinje(foretag[0].org_number);
    tidslinje.replaceChildren(h("p", { class: "tomt" }, `${tal.format(foretag.length)} företag – välj ett.`));
    traffar.replaceChildren(...foretag.map((f) => h("li", {},
      h("button", { type: "button", "data-org": f.org_number },
        `${f.name} (${f.org_number}${f.region ? `, ${f.region}` : ""})`))));
  }

  async function visaTidslinje(orgnummer) {
    const el = $("#tidslinje");
    for (const b of $$("#foretag-traffar button")) b.setAttribute("aria-pressed", String(b.dataset.org === orgnummer));
    el.setAttribute("aria-busy", "true");
    el.replaceChildren(h("p", { class: "laddar" }, "Hämtar den röda tråden …"));
    let trad;
    try {
      trad = await hamta(`/v1/companies/${encodeURIComponent(orgnummer)}/timeline`);
    } catch (fel) {
      el.removeAttribute("aria-busy");
      if (!(fel instanceof ApiFel)) throw fel;
      if (fel.status === 401) return loggaUt(felmeddelande(fel));
      if (fel.status === 404) return visaTomt(el, `Hittade inget företag med organisationsnummer ${orgnummer}.`);
      if (fel.status === 403) {
        return el.replaceChildren(h("p", { class: "fel", role: "alert", "data-status": 403 },
          "Ingen behörighet: din nyckel ger inte tillgång till det här företagets röda tråd."));
      }
      return visaFel(el, fel);
    }
    el.removeAttribute("aria-busy");
    const handelser = trad.events || [];
    const om = [trad.org_number, trad.region, trad.iuc && `IUC: ${trad.iuc}`].filter(Boolean).join(" · ");
    el.replaceChildren(
      h("div", { class: "foretag-huvud" },
        h("h3", {}, trad.name || trad.org_number),
        h("p", {}, `${om} · ${tal.format(handelser.length)} händelser`)),
      handelser.length
        ? h("ol", { class: "trad", "aria-label": `Röda tråden för ${trad.name || trad.org_number}` },
          handelser.map((e) => {
            const [typ, etikett] = TIDSLINJETYPER[e.kind] || ["behov", e.kind];
            const tid = new Date(e.occurred_at);
            return h("li", { class: `typ-${typ}`, "data-kind": e.kind },
              h("span", { class: "trad__ikon", "aria-hidden": "true" },
                s("svg", { viewBox: "0 0 24 24" }, s("use", { href: `#ikon-${typ}` }))),
              h("div", { class: "trad__text" },
                h("p", { class: "trad__meta" },
                  h("span", { class: "trad__typ" }, etikett), " · ",
                  h("time", { datetime: e.occurred_at }, isNaN(tid) ? e.occurred_at : tidpunkt.format(tid)),
                  " · ", h("span", { class: "trad__kalla" }, `källa: ${kalla(e.source)}`)),
                h("p", { class: "trad__sammanfattning" }, e.summary)));
          }))
        : h("p", { class: "tomt" }, "Inga händelser för företaget ännu."));
  }

  // ---- CSV: fetched with the key (a plain link could not send it), saved as a blob ----

  async function laddaNerCsv(knapp) {
    const vad = knapp.dataset.csv;
    const parametrar = { ...periodparametrar() };
    if (vad === "uptake") parametrar.by = tillstand.uppdelning;
    if (vad === "white-spots") parametrar.threshold = tillstand.troskel;
    const text = knapp.textContent;
    knapp.disabled = true;
    knapp.textContent = "Hämtar …";
    try {
      const blob = await hamta(`/v1/board/${vad}`, parametrar, { csv: true });
      const url = URL.createObjectURL(blob);
      const period = [tillstand.start || "början", tillstand.slut || "idag"].join("_");
      const a = h("a", { href: url, download: `${knapp.dataset.filnamn}_${period}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30000);
    } catch (fel) {
      if (!(fel instanceof ApiFel)) throw fel;
      if (fel.status === 401) return loggaUt(felmeddelande(fel));
      const sektion = knapp.closest("section");
      sektion.querySelector("[data-innehall]").prepend(h("p", { class: "fel", role: "alert" }, felmeddelande(fel)));
    } finally {
      knapp.textContent = text;
      knapp.disabled = false;
    }
  }

  // ---- period ----

  function valjSnabbval(val) {
    const idag = new Date();
    const ar = idag.getFullYear();
    if (val === "12m") {
      const fran = new Date(idag);
      fran.setFullYear(ar - 1);
      fran.setDate(fran.getDate() + 1);
      [tillstand.start, tillstand.slut] = [isoDag(fran), isoDag(idag)];
    } else if (val === "i-ar") {
      [tillstand.start, tillstand.slut] = [`${ar}-01-01`, isoDag(idag)];
    } else if (val === "forra-aret") {
      [tillstand.start, tillstand.slut] = [`${ar - 1}-01-01`, `${ar - 1}-12-31`];
    } else {
      [tillstand.start, tillstand.slut] = ["", ""];
    }
    tillstand.snabbval = val;
    visaPeriod();
  }

  // A real day written ÅÅÅÅ-MM-DD (2026-02-30 is not one).
  function giltigtDatum(text) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
    const dag = new Date(`${text}T12:00:00Z`);
    return !Number.isNaN(dag.getTime()) && dag.toISOString().slice(0, 10) === text;
  }

  function visaPeriod() {
    $("#fran").value = tillstand.start;
    $("#till").value = tillstand.slut;
    for (const b of $$("[data-snabbval]")) b.setAttribute("aria-pressed", String(b.dataset.snabbval === tillstand.snabbval));
    const dag = (iso) => langtDatum.format(new Date(`${iso}T12:00:00`));
    let text;
    if (tillstand.start && tillstand.slut) text = `${dag(tillstand.start)} – ${dag(tillstand.slut)}`;
    else if (tillstand.start) text = `från ${dag(tillstand.start)}`;
    else if (tillstand.slut) text = `till och med ${dag(tillstand.slut)}`;
    else text = "hela tiden";
    $("#period-text").textContent = `Visar ${text}.`;
  }

  // ---- logging in and out ----

  async function loggaIn(nyckel) {
    const meddelande = $("#inloggning-meddelande");
    meddelande.textContent = "";
    tillstand.nyckel = nyckel;
    let styrelse = true;
    try {
      // any board figure tells whether the key is valid and may see the board's figures
      await hamta("/v1/board/funnel", { start: isoDag(new Date()), end: isoDag(new Date()) });
    } catch (fel) {
      if (!(fel instanceof ApiFel)) throw fel;
      if (fel.status === 403) {
        styrelse = false;
      } else if (fel.status === 401 || fel.status === 0) {
        tillstand.nyckel = null;
        sessionStorage.removeItem(NYCKEL_LAGRING);
        meddelande.textContent = felmeddelande(fel);
        $("#inloggning").hidden = false;
        $("#oversikt").hidden = true;
        return;
      }
      // anything else (a 500 in one figure) is shown in its section, not at the door
    }
    sessionStorage.setItem(NYCKEL_LAGRING, nyckel);
    $("#api-nyckel").value = "";
    $("#inloggning").hidden = true;
    $("#oversikt").hidden = false;
    $("#logga-ut").hidden = false;
    const behorighet = $("#behorighet");
    behorighet.hidden = styrelse;
    behorighet.textContent = styrelse ? "" :
      "Ingen behörighet till styrelsens siffror med den här nyckeln. Du kan se den röda tråden för de företag du coachar: sök på organisationsnummer.";
    document.body.dataset.behorighet = styrelse ? "styrelse" : "begransad";
    visaPeriod();
    await laddaAllt();
  }

  function loggaUt(meddelande = "") {
    tillstand.nyckel = null;
    tillstand.senaste = {};
    sessionStorage.removeItem(NYCKEL_LAGRING);
    $("#oversikt").hidden = true;
    $("#logga-ut").hidden = true;
    $("#inloggning").hidden = false;
    for (const el of $$("[data-innehall]")) el.replaceChildren();
    $("#foretag-traffar").replaceChildren();
    $("#tidslinje").replaceChildren();
    delete document.body.dataset.behorighet;
    $("#inloggning-meddelande").textContent = meddelande;
    $("#api-nyckel").focus();
  }

  // ---- wiring ----

  function start() {
    valjSnabbval("12m");

    $("#inloggning-formular").addEventListener("submit", (e) => {
      e.preventDefault();
      const nyckel = $("#api-nyckel").value.trim();
      if (!nyckel) {
        $("#inloggning-meddelande").textContent = "Skriv in din API-nyckel först.";
        return;
      }
      loggaIn(nyckel);
    });
    $("#logga-ut").addEventListener("click", () => loggaUt());

    for (const knapp of $$("[data-snabbval]")) {
      knapp.addEventListener("click", () => {
        valjSnabbval(knapp.dataset.snabbval);
        laddaAllt();
      });
    }
    for (const falt of [$("#fran"), $("#till")]) {
      falt.addEventListener("input", () => falt.setCustomValidity(""));
    }
    $("#filter").addEventListener("submit", (e) => {
      e.preventDefault();
      for (const falt of [$("#fran"), $("#till")]) {
        falt.value = falt.value.trim();
        falt.setCustomValidity(falt.value && !giltigtDatum(falt.value)
          ? "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-01-31." : "");
        if (!falt.reportValidity()) return;
      }
      tillstand.start = $("#fran").value;
      tillstand.slut = $("#till").value;
      if (tillstand.start && tillstand.slut && tillstand.start > tillstand.slut) {
        [tillstand.start, tillstand.slut] = [tillstand.slut, tillstand.start];
      }
      tillstand.snabbval = null;
      visaPeriod();
      laddaAllt();
    });

    for (const val of $$("input[name=uppdelning]")) {
      val.addEventListener("change", () => {
        tillstand.uppdelning = val.value;
        laddaUptake();
      });
    }

    const troskel = $("#troskel");
    let troskelTimer;
    const visaTroskel = () => { $("#troskel-varde").textContent = procent.format(Number(troskel.value)); };
    troskel.addEventListener("input", () => {
      visaTroskel();
      clearTimeout(troskelTimer);
      troskelTimer = setTimeout(() => {
        tillstand.troskel = Number(troskel.value);
        laddaVitaFlackar();
      }, 300);
    });
    tillstand.troskel = Number(troskel.value);
    visaTroskel();

    for (const knapp of $$("button.csv")) knapp.addEventListener("click", () => laddaNerCsv(knapp));

    $("#foretag-sok").addEventListener("submit", (e) => {
      e.preventDefault();
      sokForetag($("#foretag-fraga").value);
    });
    $("#foretag-traffar").addEventListener("click", (e) => {
      const knapp = e.target.closest("button[data-org]");
      if (knapp) visaTidslinje(knapp.dataset.org);
    });

    // charts are drawn for the width they have; redraw when it changes
    let storlekTimer;
    let senasteBredd = window.innerWidth;
    window.addEventListener("resize", () => {
      clearTimeout(storlekTimer);
      storlekTimer = setTimeout(() => {
        if (window.innerWidth === senasteBredd) return;
        senasteBredd = window.innerWidth;
        for (const [sektion, { data, ritare }] of Object.entries(tillstand.senaste)) ritare(innehall(sektion), data);
      }, 150);
    });

    const sparad = sessionStorage.getItem(NYCKEL_LAGRING);
    if (sparad) loggaIn(sparad);
    else $("#api-nyckel").focus();
  }

  start();
})();
