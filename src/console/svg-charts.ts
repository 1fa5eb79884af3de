/**
 * Charts for the operator console as server-rendered SVG: no script, no CDN, nothing the page's
 * CSP (script-src 'self', style-src 'self') would have to allow. Colours come from presentation
 * attributes and CSS classes in views/assets/console.css, never from inline styles. Every label
 * is escaped here, since the SVG is inserted into the page unescaped.
 */
const escapeXml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const clipLabel = (text: string, max = 40) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export interface Bar {
  label: string;
  value: number;
}

/** Horizontal bars, one per row, with the value at the end of each: "top apps", "tokens by grant type". */
export function barChart(title: string, bars: readonly Bar[]): string {
  const width = 560;
  const rowHeight = 26;
  const labelWidth = 220;
  const barSpace = width - labelWidth - 60;
  const height = Math.max(bars.length, 1) * rowHeight + 8;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const rows = bars.map((bar, i) => {
    const y = 4 + i * rowHeight;
    const w = Math.max(bar.value > 0 ? 2 : 0, Math.round((bar.value / max) * barSpace));
    return (
      `<text x="0" y="${y + 17}" class="chart-label">${escapeXml(clipLabel(bar.label))}</text>` +
      `<rect x="${labelWidth}" y="${y + 4}" width="${w}" height="${rowHeight - 8}" rx="3" class="chart-bar"><title>${escapeXml(bar.label)}: ${bar.value}</title></rect>` +
      `<text x="${labelWidth + w + 6}" y="${y + 17}" class="chart-value">${bar.value}</text>`
    );
  });
  const empty = bars.length ? '' : `<text x="0" y="20" class="chart-label muted">Nothing in this period</text>`;
  return svg(title, width, height, rows.join('') + empty);
}

export interface Series {
  name: string;
  values: readonly number[];
  /** CSS class of its bars and legend swatch: chart-series-0 … chart-series-4 */
  className: string;
}

/**
 * Columns over time, one group per bucket, one column per series: "sign-ins succeeded and failed
 * per hour". `bucketLabels` are shown under the first, middle and last buckets.
 */
export function timeChart(title: string, series: readonly Series[], bucketLabels: readonly string[]): string {
  const width = 560;
  const plotHeight = 120;
  const top = 22;
  const left = 36;
  const buckets = Math.max(1, ...series.map((s) => s.values.length));
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const groupWidth = (width - left) / buckets;
  const columnWidth = Math.max(1, (groupWidth - 2) / Math.max(series.length, 1));
  // Every legend entry within the width: four series get narrower entries than three.
  const legendStep = Math.min(170, Math.floor((width - left) / Math.max(series.length, 1)));
  const legendChars = Math.max(8, Math.min(22, Math.floor((legendStep - 20) / 6)));
  const parts: string[] = [];
  parts.push(`<line x1="${left}" y1="${top + plotHeight}" x2="${width}" y2="${top + plotHeight}" class="chart-axis"/>`);
  parts.push(`<text x="0" y="${top + 10}" class="chart-value">${max}</text><text x="0" y="${top + plotHeight}" class="chart-value">0</text>`);
  series.forEach((s, si) => {
    s.values.forEach((value, bi) => {
      if (value <= 0) return;
      const h = Math.max(1, Math.round((value / max) * plotHeight));
      const x = left + bi * groupWidth + 1 + si * columnWidth;
      parts.push(`<rect x="${x.toFixed(1)}" y="${top + plotHeight - h}" width="${columnWidth.toFixed(1)}" height="${h}" class="${escapeXml(s.className)}"><title>${escapeXml(s.name)}: ${value} (${escapeXml(bucketLabels[bi] ?? '')})</title></rect>`);
    });
    const lx = left + si * legendStep;
    parts.push(`<rect x="${lx}" y="2" width="10" height="10" class="${escapeXml(s.className)}"/><text x="${lx + 14}" y="11" class="chart-label">${escapeXml(clipLabel(s.name, legendChars))}</text>`);
  });
  for (const bi of [0, Math.floor((buckets - 1) / 2), buckets - 1]) {
    const label = bucketLabels[bi];
    if (label === undefined) continue;
    const anchor = bi === 0 ? 'start' : bi === buckets - 1 ? 'end' : 'middle';
    const x = bi === buckets - 1 ? width : left + bi * groupWidth + (anchor === 'middle' ? groupWidth / 2 : 0);
    parts.push(`<text x="${x.toFixed(1)}" y="${top + plotHeight + 16}" text-anchor="${anchor}" class="chart-label">${escapeXml(label)}</text>`);
  }
  return svg(title, width, top + plotHeight + 22, parts.join(''));
}

function svg(title: string, width: number, height: number, body: string): string {
  return `<svg class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title>${escapeXml(title)}</title>${body}</svg>`;
}
