// Runs inside a copy of the report in headless Chromium and posts what a
// reader would notice: images that did not load, maths that did not become
// MathML, elements wider than the page (outside a box that scrolls), and any
// request that left the file.
(async () => {
  const found = { width: document.documentElement.clientWidth, images: 0, broken: [], maths: 0, raw_tex: [], wide: [], requests: [] };
  const short = s => String(s).slice(0, 80);
  for (const img of document.images) {
    found.images++;
    if (!img.complete || img.naturalWidth === 0) found.broken.push(short(img.src));
  }
  // An <image> inside an inline SVG has no naturalWidth: decode its source.
  await Promise.all([...document.querySelectorAll('svg image')].map(el => new Promise(resolve => {
    found.images++;
    const href = el.getAttribute('href') || el.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '';
    const probe = new Image();
    probe.onload = () => { if (probe.naturalWidth === 0) found.broken.push(short(href)); resolve(); };
    probe.onerror = () => { found.broken.push(short(href)); resolve(); };
    probe.src = href;
  })));
  found.maths = document.querySelectorAll('math').length;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, script, annotation')) continue;
    const tex = n.textContent.match(/\\[a-zA-Z]+\{|\$[^$\s][^$]*\$/);
    if (tex) found.raw_tex.push(short(tex[0]));
  }
  const scrolls = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === 'auto' || x === 'scroll' || x === 'hidden') return true;
    }
    return false;
  };
  const tooWide = el => { const r = el.getBoundingClientRect(); return r.width > 0 && (r.right > found.width + 1 || r.left < -1); };
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('script') || !tooWide(el) || scrolls(el)) continue;
    // Name only the outermost offender.
    if (el.parentElement && el.parentElement !== document.body && tooWide(el.parentElement) && !scrolls(el.parentElement)) continue;
    const r = el.getBoundingClientRect();
    found.wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} (${Math.round(r.left)} to ${Math.round(r.right)} px): ${short(el.textContent.trim())}`);
  }
  found.requests = performance.getEntriesByType('resource').map(e => short(e.name));
  for (const el of document.querySelectorAll('[src], [href]')) {
    for (const attr of ['src', 'href']) {
      const v = el.getAttribute(attr);
      if (v && !/^(data:|#|javascript:)/.test(v)) found.requests.push(short(v));
    }
  }
  const report = JSON.stringify(found);
  if (window.parent !== window) window.parent.postMessage(report, '*');
})();
