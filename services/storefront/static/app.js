// Bazaar's little script: type-ahead in the search box, the live notification badge,
// and the ops console's live parts. Every page works without it.
"use strict";

// The console's buttons that only a script can carry out show once it runs.
document.documentElement.classList.remove("no-js");

(function () {
  // ---- Type-ahead: suggestions from the search service, a combobox for keyboards.
  function typeahead(input) {
    const list = document.getElementById(input.getAttribute("aria-controls"));
    if (!list) return;
    let items = [];
    let active = -1;
    let timer = null;
    let inflight = null;

    function close() {
      list.hidden = true;
      list.replaceChildren();
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      items = [];
      active = -1;
    }

    function highlight(index) {
      active = index;
      Array.from(list.children).forEach(function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0) input.setAttribute("aria-activedescendant", "suggestion-" + index);
      else input.removeAttribute("aria-activedescendant");
    }

    function go(item) {
      if (item.id) window.location.href = "/p/" + encodeURIComponent(item.id);
    }

    function show(suggestions) {
      items = suggestions.slice(0, 8);
      list.replaceChildren();
      items.forEach(function (item, i) {
        const li = document.createElement("li");
        li.id = "suggestion-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = item.name;
        li.addEventListener("mousedown", function (e) {
          e.preventDefault();
          go(item);
        });
        list.appendChild(li);
      });
      const open = items.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
      active = -1;
    }

    function normalise(body) {
      const raw = Array.isArray(body) ? body : body.suggestions || body.items || [];
      return raw
        .map(function (s) {
          return typeof s === "string" ? { id: null, name: s } : { id: s.id, name: s.name || s.text };
        })
        .filter(function (s) {
          return s.name;
        });
    }

    function fetchSuggestions() {
      const q = input.value.trim();
      if (q.length < 2) return close();
      if (inflight) inflight.abort();
      inflight = new AbortController();
      const controller = inflight;
      const timeout = setTimeout(function () {
        controller.abort();
      }, 1500);
      fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), {
        signal: controller.signal,
        headers: { Accept: "application/json" },
      })
        .then(function (r) {
          return r.ok ? r.json() : { suggestions: [] };
        })
        .then(function (body) {
          if (input.value.trim() === q) show(normalise(body));
        })
        .catch(function () {
          /* Search is optional: no suggestions. */
        })
        .finally(function () {
          clearTimeout(timeout);
        });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") {
        e.preventDefault();
        highlight((active + 1) % items.length);
      } else if (e.key === "ArrowUp") {
        e.preventDefault();
        highlight(active <= 0 ? items.length - 1 : active - 1);
      } else if (e.key === "Enter" && active >= 0) {
        e.preventDefault();
        go(items[active]);
      } else if (e.key === "Escape") {
        // Closes the list and keeps what was typed (Chromium would clear a search box).
        e.preventDefault();
        close();
      }
    });
    input.addEventListener("blur", function () {
      setTimeout(close, 100);
    });
  }

  // The session's CSRF token, which every POST a script makes must send as X-CSRF-Token.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // ---- Notifications: a live badge and a polite announcement of each new message.
  function toast(text) {
    const region = document.getElementById("live-toast");
    if (!region) return;
    region.textContent = text;
    clearTimeout(region._timer);
    region._timer = setTimeout(function () {
      region.textContent = "";
    }, 8000);
  }

  function notifications(link) {
    const badge = document.getElementById("notification-badge");
    if (!badge || !window.EventSource) return;
    const source = new EventSource(link.dataset.stream);
    function received(event) {
      let subject = "You have a new notification";
      try {
        const message = JSON.parse(event.data);
        if (message.subject) subject = message.subject;
      } catch (_) {
        /* Not JSON: a plain announcement. */
      }
      const count = (parseInt(badge.dataset.count, 10) || 0) + 1;
      badge.dataset.count = String(count);
      badge.firstChild.nodeValue = String(count) + (badge.dataset.more || "");
      badge.hidden = false;
      toast(subject);
    }
    source.addEventListener("notification", received);
    source.addEventListener("message", received);
  }

  // ---- The ops console: poll the state every second, render it (the charts too), kill /
  // restart, replay.
  function ops(root) {
    const stateUrl = root.dataset.stateUrl;
    let epoch = 0;
    // The actions asked and not answered yet, by URL: their buttons stay disabled through
    // every redraw, so one click is one action (a poll's redraw enabled a Restart button a
    // second after its click, and a second click restarted again: the console review).
    const busy = new Set();

    function el(tag, attrs, children) {
      const node = document.createElement(tag);
      Object.keys(attrs || {}).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
      (children || []).forEach(function (c) {
        if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
      });
      return node;
    }
    function hidden(text) {
      return el("span", { class: "visually-hidden", text: text });
    }
    function cap(s) {
      return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
    }
    function clock(t) {
      const d = new Date(t);
      return isNaN(d) ? t || "" : d.toISOString().slice(11, 19);
    }
    // A date and time as the server writes it (`1 Dec 2026, 09:15 UTC`): for what may be
    // days old, such as a dead letter.
    function datetime(t) {
      const d = new Date(t);
      if (isNaN(d)) return t || "";
      const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
      return d.getUTCDate() + " " + months[d.getUTCMonth()] + " " + d.getUTCFullYear() + ", " + d.toISOString().slice(11, 16) + " UTC";
    }
    // The URL a button's action posts to, if it has one.
    function actionUrl(data) {
      const service = encodeURIComponent(data.service || "");
      if (data.action) return "/ops/api/services/" + service + "/" + data.action;
      if (data.replay) return "/ops/api/dead-letters/" + service + "/" + encodeURIComponent(data.replay) + "/replay";
      if (data.discard) return "/ops/api/dead-letters/" + service + "/" + encodeURIComponent(data.discard) + "/discard";
      return null;
    }
    // A button of the console's, disabled while its action is under way.
    function actionButton(attrs, label) {
      const button = el("button", attrs, label);
      if (busy.has(actionUrl(button.dataset))) button.setAttribute("disabled", "");
      return button;
    }
    function duration(s) {
      if (s === null || s === undefined) return "—";
      const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
      const pad = function (n) { return String(n).padStart(2, "0"); };
      if (d > 0) return d + "d " + h + "h";
      if (h > 0) return h + "h " + pad(m) + "m";
      if (m > 0) return m + "m " + pad(sec) + "s";
      return sec + "s";
    }
    function num(v, digits, suffix) {
      return v === null || v === undefined ? "—" : v.toFixed(digits) + (suffix || "");
    }
    function health(h, detail) {
      return [el("span", { class: "health health-" + h, text: cap(h) }), detail ? " " : null, detail ? el("span", { class: "detail", text: detail }) : null];
    }

    // Makes `old` what `next` is, keeping every node of the same kind in place: a button
    // or link under the pointer or holding the keyboard's focus stays the same node, so a
    // click begun before a poll ends on it (replacing every row each second lost clicks
    // and dropped focus from links: the console review).
    function morph(old, next) {
      if (old.nodeType !== next.nodeType || old.nodeName !== next.nodeName) {
        old.replaceWith(next);
        return;
      }
      if (old.nodeType !== Node.ELEMENT_NODE) {
        if (old.nodeValue !== next.nodeValue) old.nodeValue = next.nodeValue;
        return;
      }
      Array.from(old.attributes).forEach(function (a) {
        if (!next.hasAttribute(a.name)) old.removeAttribute(a.name);
      });
      Array.from(next.attributes).forEach(function (a) {
        if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
      });
      morphChildren(old, Array.from(next.childNodes));
    }
    function morphChildren(parent, nexts) {
      const olds = Array.from(parent.childNodes);
      nexts.forEach(function (next, i) {
        if (i < olds.length) morph(olds[i], next);
        else parent.appendChild(next);
      });
      olds.slice(nexts.length).forEach(function (old) { old.remove(); });
    }

    // Makes what the element `id` holds an element for each item, or `empty` (if given)
    // when there are none.
    function renderList(id, items, renderItem, empty) {
      const list = document.getElementById(id);
      if (!list.dataset.morphed) {
        // The server's indentation between tags is no content: taken out at the first
        // update, so that the rows of every later one pair with these node for node.
        list.dataset.morphed = "yes";
        const walker = document.createTreeWalker(list, NodeFilter.SHOW_TEXT);
        const blank = [];
        while (walker.nextNode()) if (!walker.currentNode.nodeValue.trim()) blank.push(walker.currentNode);
        blank.forEach(function (n) { n.remove(); });
      }
      morphChildren(list, items.length || !empty ? items.map(renderItem) : [empty]);
    }

    function renderServices(state) {
      const control = state.process_control.available;
      document.getElementById("services-body").dataset.control = control ? "true" : "false";
      renderList("services-body", state.services, function (s) {
        // Kill takes the first replica; with several, the button says which.
        const several = s.replicas && s.replicas.length > 1;
        const actions = el("td", { class: "actions" }, control
          ? ["kill", "restart"].map(function (a) {
              const label = a === "kill" && several
                ? ["Kill #1", hidden(" (the first replica of " + s.name + ")")]
                : [cap(a), hidden(" " + s.name)];
              return actionButton({ type: "button", "data-action": a, "data-service": s.name }, label);
            })
          : []);
        return el("tr", { "data-service": s.name, "data-health": s.health }, [
          el("th", { scope: "row", text: s.name }),
          el("td", {}, health(s.health, s.health_detail)),
          el("td", { class: "process", text: s.process }),
          el("td", { text: duration(s.uptime_secs) }),
          el("td", { text: num(s.requests_per_sec, 1) }),
          el("td", { text: s.error_rate === null || s.error_rate === undefined ? "—" : (s.error_rate * 100).toFixed(1) + "%" }),
          el("td", {}, [
            num(s.p99_ms, 0, " ms"),
            s.slowest_trace ? " " : null,
            s.slowest_trace
              ? el("a", { class: "slowest", href: "/ops/traces/" + s.slowest_trace.trace_id, title: "the slowest traced request since the last scrape" },
                  ["slowest: " + s.slowest_trace.ms.toFixed(0) + " ms", hidden(" at " + s.name)])
              : null,
          ]),
          actions,
        ]);
      });
    }

    // The charts' lines are drawn on the server; here they are only moved along.
    function renderCharts(state) {
      const root = document.getElementById("charts");
      if (!root) return;
      state.services.forEach(function (s) {
        const card = root.querySelector('[data-chart-service="' + CSS.escape(s.name) + '"]');
        if (!card) return;
        (s.charts || []).forEach(function (c) {
          const chart = card.querySelector('[data-metric="' + CSS.escape(c.metric) + '"]');
          if (!chart) return;
          chart.querySelector(".chart-line").setAttribute("d", c.path);
          chart.querySelector("svg").setAttribute("aria-label", c.description);
          chart.querySelector(".chart-latest").textContent = c.latest_label;
          chart.querySelector(".chart-max").textContent = c.max_label;
        });
      });
    }

    function renderQueues(state) {
      const foot = document.getElementById("queues-foot");
      if (!foot) return;
      foot.hidden = !state.queues;
      document.getElementById("queues").textContent = state.queues || "";
    }

    function renderOutboxes(state) {
      renderList("outbox-body", state.outboxes, function (o) {
        if (o.error) {
          return el("tr", { "data-producer": o.service }, [el("th", { scope: "row", text: o.service }), el("td", { colspan: "3", class: "detail", text: o.error })]);
        }
        const behind = o.consumers.length
          ? o.consumers.map(function (c) { return c.consumer + ": " + c.backlog; }).join(", ")
          : "—";
        return el("tr", { "data-producer": o.service }, [
          el("th", { scope: "row", text: o.service }),
          el("td", { text: String(o.head) }),
          el("td", {}, o.stuck ? [String(o.undelivered) + " ", el("span", { class: "detail", text: o.stuck })] : [String(o.undelivered)]),
          el("td", { text: behind }),
        ]);
      });
    }

    function renderIncidents(state) {
      renderList("incidents", state.incidents, function (i) {
        return el("li", { "data-service": i.service, "data-health": i.health }, [
          el("time", { text: clock(i.at) }), " ", el("strong", { text: i.service }), " ",
        ].concat(health(i.health, i.detail)));
      }, el("li", { class: "empty", text: "None since the console started watching." }));
    }

    function renderDeadLetters(state) {
      renderList("dead-letters", state.dead_letters, function (g) {
        const head = el("h3", {}, [g.service + " ", g.count === null || g.count === undefined ? null : el("span", { class: "count", text: String(g.count) + (g.more ? "+" : "") })]);
        let content;
        if (g.error) content = el("p", { class: "detail", text: g.error });
        else if (!g.items.length) content = el("p", { class: "empty", text: "None." });
        else
          content = el("ul", {}, g.items.map(function (d) {
            return el("li", {}, [
              el("code", { text: d.type || "unknown type" }),
              " — " + d.error + " (" + d.attempts + (d.attempts === 1 ? " attempt, " : " attempts, ") + datetime(d.dead_at) + ") ",
              actionButton({ type: "button", "data-replay": d.id, "data-service": g.service }, ["Replay", hidden(" dead letter " + d.id)]),
              " ",
              actionButton({ type: "button", "data-discard": d.id, "data-service": g.service }, ["Discard", hidden(" dead letter " + d.id)]),
            ]);
          }));
        return el("div", { class: "dead-group", "data-consumer": g.service }, [head, content]);
      }, el("p", { class: "empty", text: "No consumer reports dead letters." }));
    }

    function renderFeed(state) {
      renderList("feed-body", state.feed, function (e) {
        return el("tr", {}, [
          el("td", {}, [el("time", { text: clock(e.time) })]),
          el("td", { text: e.producer }),
          el("td", {}, [el("code", { text: e.type })]),
          el("td", {}, [el("code", { text: e.subject })]),
        ]);
      }, el("tr", {}, [el("td", { colspan: "4", class: "empty", text: "No events yet." })]));
    }

    function render(state) {
      renderServices(state);
      renderCharts(state);
      renderOutboxes(state);
      renderQueues(state);
      renderIncidents(state);
      renderDeadLetters(state);
      renderFeed(state);
      document.getElementById("ops-updated").textContent = clock(state.generated_at);
      const pc = document.getElementById("process-control");
      if (pc) pc.textContent = state.process_control.message || "";
    }

    function say(text) {
      document.getElementById("ops-message").textContent = text;
    }

    function poll() {
      const started = epoch;
      fetch(stateUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) {
          if (r.status === 401 || r.status === 403) {
            window.location.reload();
            return null;
          }
          if (!r.ok) throw new Error("status " + r.status);
          return r.json();
        })
        .then(function (state) {
          document.getElementById("ops-connection").hidden = true;
          // A control answered meanwhile: its state is newer than this one.
          if (state && started === epoch) render(state);
        })
        .catch(function () {
          document.getElementById("ops-connection").hidden = false;
        })
        .finally(function () {
          setTimeout(poll, 1000);
        });
    }

    root.addEventListener("click", function (e) {
      const button = e.target.closest("button");
      if (!button) return;
      const url = actionUrl(button.dataset);
      if (!url || busy.has(url)) return;
      let doing;
      if (button.dataset.action) {
        doing = (button.dataset.action === "kill" ? "Killing " : "Restarting ") + button.dataset.service + "…";
      } else if (button.dataset.replay) {
        doing = "Replaying a dead letter of " + button.dataset.service + "…";
      } else {
        // Its event is then never applied: asked first.
        if (!window.confirm("Close this dead letter of " + button.dataset.service + " without replaying it? Its event will never be applied.")) return;
        doing = "Closing a dead letter of " + button.dataset.service + "…";
      }
      busy.add(url);
      button.disabled = true;
      say(doing);
      epoch += 1;
      fetch(url, { method: "POST", headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() }, credentials: "same-origin" })
        .then(function (r) {
          return r.json().then(function (body) {
            return { ok: r.ok, body: body };
          });
        })
        .then(function (answer) {
          if (!answer.ok) {
            say("That did not work: " + (answer.body.detail || answer.body.title || "unknown error"));
          } else if (answer.body.services) {
            epoch += 1;
            render(answer.body);
            say(button.dataset.action === "kill"
              ? button.dataset.service + " killed; the supervisor starts it again."
              : button.dataset.service + ": a rolling restart has begun; the table shows its replicas as each is replaced.");
          } else {
            say({
              handled: "Replayed: handled, and closed.",
              already_handled: "Replayed: it had been applied already; closed.",
              failed: "The replay failed again: the letter stays open, with its new error in the list.",
              discarded: "Closed without a replay.",
            }[answer.body.result] || "Replayed: " + answer.body.result + ".");
          }
        })
        .catch(function () {
          say("That did not work: the console could not be reached.");
        })
        .finally(function () {
          busy.delete(url);
          button.disabled = false;
        });
    });

    setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    // A form sent back with mistakes: the keyboard starts at the list of them (or at why
    // a sign-in failed).
    const summary =
      document.getElementById("error-summary") || document.getElementById("form-error");
    if (summary) summary.focus();
    document.querySelectorAll("input[data-suggest]").forEach(typeahead);
    if (document.body.dataset.signedIn) {
      const link = document.querySelector("a[data-stream]");
      if (link) notifications(link);
    }
    const opsRoot = document.getElementById("ops");
    if (opsRoot) ops(opsRoot);
  });
})();
