// Markdown for the chat page, rendered straight into DOM nodes. Model output is untrusted text:
// nothing here touches innerHTML, every piece of text becomes a text node, and links keep only
// http(s) and mailto targets, so a model that writes <script> or <img onerror> shows those
// characters and runs nothing. (A library such as marked produces an HTML string that would need a
// sanitizer after it, and costs more bytes than this whole file; the subset below is what chat
// answers use: fenced code, headings, lists, quotes, tables, rules, emphasis, code spans, links.)
"use strict";

(function () {
  // --- code highlighting: one tokenizer for the C-, Python- and shell-like languages models
  // write most; it colours keywords, strings, numbers and comments and nothing else.
  const KEYWORDS = new Set((
    "if else elif for while do switch case default break continue return function def class struct " +
    "enum union interface public private protected static const let var new delete try catch except " +
    "finally throw raise import from export package module use using namespace template typename " +
    "auto void int long short char float double bool boolean true false null nullptr None True False " +
    "self this super async await yield lambda with as in is not and or pass fn mut impl trait pub " +
    "match type where go func defer chan select val echo then fi done esac local unsigned signed " +
    "sizeof typeof instanceof extends implements virtual override final inline constexpr string"
  ).split(" "));
  const TOKEN = new RegExp([
    "(\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/|#[^\\n]*|--[^\\n]*)",                    // 1 comment
    "(\"(?:\\\\.|[^\"\\\\\\n])*\"?|'(?:\\\\.|[^'\\\\\\n])*'?|`(?:\\\\.|[^`\\\\])*`?)", // 2 string
    "(\\b(?:0x[0-9a-fA-F]+|\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b)",                 // 3 number
    "([A-Za-z_][A-Za-z0-9_]*)",                                                        // 4 word
  ].join("|"), "g");
  const HASH_COMMENT = /^(python|py|sh|bash|shell|zsh|ruby|rb|perl|r|yaml|yml|toml|make|makefile|dockerfile|cmake|conf|ini)$/;
  const DASH_COMMENT = /^(sql|lua|haskell|hs)$/;

  function highlight(code, lang, into) {
    const hash = HASH_COMMENT.test(lang);
    const dash = DASH_COMMENT.test(lang);
    let last = 0;
    TOKEN.lastIndex = 0;
    for (let m; (m = TOKEN.exec(code)); ) {
      let cls = null;
      if (m[1] !== undefined) {
        const c = m[1];
        if (c[0] === "#" && !hash) { TOKEN.lastIndex = m.index + 1; continue; }
        if (c[0] === "-" && !dash) { TOKEN.lastIndex = m.index + 1; continue; }
        cls = "tok-comment";
      } else if (m[2] !== undefined) cls = "tok-string";
      else if (m[3] !== undefined) cls = "tok-number";
      else if (KEYWORDS.has(m[4])) cls = "tok-keyword";
      if (!cls) continue;
      if (m.index > last) into.appendChild(document.createTextNode(code.slice(last, m.index)));
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = m[0];
      into.appendChild(span);
      last = m.index + m[0].length;
    }
    if (last < code.length) into.appendChild(document.createTextNode(code.slice(last)));
  }

  // --- inline: code spans first (their contents are literal), then links, bold, italic.
  const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\[([^\]\n]+)\]\(([^)\s]+)\)|\*\*([^*\n]+)\*\*|__([^_\n]+)__|\*([^*\n]+)\*|_([^_\n]+)_|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

  function safeHref(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  function inline(text, into) {
    let last = 0;
    const re = new RegExp(INLINE.source, "g");  // its own: emphasis recurses into inline()
    for (let m; (m = re.exec(text)); ) {
      // "_" inside identifiers (snake_case) is not emphasis.
      if (m[8] !== undefined && m.index > 0 && /\w/.test(text[m.index - 1])) { re.lastIndex = m.index + 1; continue; }
      if (m.index > last) addText(text.slice(last, m.index), into);
      let node;
      if (m[2] !== undefined) {
        node = document.createElement("code");
        node.textContent = m[2].replace(/^ (.*) $/, "$1");
      } else if (m[3] !== undefined) {
        const href = safeHref(m[4]);
        if (href) {
          node = document.createElement("a");
          node.href = href;
          node.rel = "noopener noreferrer nofollow";
          node.target = "_blank";
          inline(m[3], node);
        } else {
          node = document.createTextNode(m[0]);
        }
      } else if (m[5] !== undefined || m[6] !== undefined) {
        node = document.createElement("strong");
        inline(m[5] ?? m[6], node);
      } else if (m[7] !== undefined || m[8] !== undefined) {
        node = document.createElement("em");
        inline(m[7] ?? m[8], node);
      } else {
        node = document.createElement("a");
        node.href = m[9];
        node.rel = "noopener noreferrer nofollow";
        node.target = "_blank";
        node.textContent = m[9];
      }
      into.appendChild(node);
      last = m.index + m[0].length;
    }
    if (last < text.length) addText(text.slice(last), into);
  }

  // Text with its line breaks kept (chat answers rely on them).
  function addText(text, into) {
    const lines = text.split("\n");
    lines.forEach((line, i) => {
      if (i > 0) into.appendChild(document.createElement("br"));
      if (line) into.appendChild(document.createTextNode(line));
    });
  }

  // --- blocks
  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
  const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
  const QUOTE = /^ {0,3}> ?(.*)$/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

  function splitRow(line) {
    let s = line.trim();
    if (s.startsWith("|")) s = s.slice(1);
    if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
    return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
  }

  function codeBlock(code, lang, into) {
    const pre = document.createElement("pre");
    const el = document.createElement("code");
    if (lang) el.dataset.lang = lang;
    highlight(code, lang.toLowerCase(), el);
    pre.appendChild(el);
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "small copy-code";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", "Copy code");
    copy.addEventListener("click", () => window.HearthMarkdown.copyText(code, copy));
    pre.appendChild(copy);
    into.appendChild(pre);
  }

  function blocks(lines, into) {
    let i = 0;
    let para = [];
    const flush = () => {
      if (!para.length) return;
      const p = document.createElement("p");
      inline(para.join("\n"), p);
      into.appendChild(p);
      para = [];
    };
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = FENCE.exec(line))) {
        flush();
        const fence = m[1];
        const body = [];
        for (i++; i < lines.length && !lines[i].trimStart().startsWith(fence); i++) body.push(lines[i]);
        i++;  // the closing fence (or the end, while the answer is still streaming)
        codeBlock(body.join("\n"), m[2] || "", into);
      } else if ((m = HEADING.exec(line))) {
        flush();
        // Headings inside an answer sit below the page's own h1/h2: start at h3.
        const h = document.createElement("h" + Math.min(6, m[1].length + 2));
        inline(m[2], h);
        into.appendChild(h);
        i++;
      } else if (RULE.test(line) && !para.length) {
        into.appendChild(document.createElement("hr"));
        i++;
      } else if (QUOTE.test(line)) {
        flush();
        const body = [];
        for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++) body.push(m[1]);
        const q = document.createElement("blockquote");
        blocks(body, q);
        into.appendChild(q);
      } else if ((m = ITEM.exec(line))) {
        flush();
        i = list(lines, i, into);
      } else if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
        flush();
        const table = document.createElement("table");
        const head = table.createTHead().insertRow();
        for (const c of splitRow(line)) {
          const th = document.createElement("th");
          inline(c, th);
          head.appendChild(th);
        }
        const tbody = table.createTBody();
        for (i += 2; i < lines.length && lines[i].includes("|") && lines[i].trim(); i++) {
          const row = tbody.insertRow();
          for (const c of splitRow(lines[i])) inline(c, row.insertCell());
        }
        into.appendChild(table);
      } else if (!line.trim()) {
        flush();
        i++;
      } else {
        para.push(line);
        i++;
      }
    }
    flush();
  }

  // A list starting at lines[i]; items indented further than the marker nest. Returns the next line.
  function list(lines, i, into) {
    const first = ITEM.exec(lines[i]);
    const indent = first[1].length;
    const ordered = /\d/.test(first[2]);
    const el = document.createElement(ordered ? "ol" : "ul");
    if (ordered && parseInt(first[2], 10) !== 1) el.start = parseInt(first[2], 10);
    while (i < lines.length) {
      const m = ITEM.exec(lines[i]);
      if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
      const li = document.createElement("li");
      const body = [m[3]];
      for (i++; i < lines.length; i++) {
        const next = lines[i];
        if (!next.trim()) break;
        const sub = ITEM.exec(next);
        if (sub && sub[1].length <= indent) break;
        body.push(sub ? next.slice(indent + 2) : next.trim());
      }
      blocks(body, li);
      // A tight item's single paragraph reads better without the paragraph margin.
      if (li.childNodes.length === 1 && li.firstChild.tagName === "P") {
        const p = li.firstChild;
        while (p.firstChild) li.insertBefore(p.firstChild, p);
        li.removeChild(p);
      }
      el.appendChild(li);
      while (i < lines.length && !lines[i].trim() && i + 1 < lines.length) {
        const after = ITEM.exec(lines[i + 1]);
        if (after && after[1].length === indent) i++;
        else break;
      }
    }
    into.appendChild(el);
    return i;
  }

  window.HearthMarkdown = {
    // Replaces `container`'s children with `text` rendered as Markdown.
    render(text, container) {
      container.replaceChildren();
      blocks(String(text).replace(/\r\n?/g, "\n").split("\n"), container);
    },
    async copyText(text, button) {
      try {
        await navigator.clipboard.writeText(text);
        if (button) {
          const label = button.textContent;
          button.textContent = "Copied";
          setTimeout(() => (button.textContent = label), 1200);
        }
      } catch {
        // No clipboard permission: leave the text selectable instead.
      }
    },
  };
})();
