/**
 * The "Connect with scopegate" button kit (src/pages/brand.ts, src/pages/brand/,
 * docs/branding.md). The colours are read from the SVG files themselves and
 * held to WCAG 2.2 AA, so a colour changed badly fails here; the files must
 * not be able to run script; v1's bytes are pinned because they are served
 * `immutable`; and the snippet docs/branding.md gives is the one the example
 * partner app uses.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONNECT_BUTTON_CSS } from "../../examples/partner-app/html.ts";
import { BRAND_VERSION, CONNECT_BUTTONS, connectButtonPath, connectButtonSvg } from "../../src/pages/brand.ts";

const WORDING = "Connect with scopegate";

/** WCAG 2.x relative luminance of a #rrggbb colour. */
function luminance(hex: string): number {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`not a #rrggbb colour: ${hex}`);
  const [r, g, b] = m.slice(1).map((h) => {
    const c = Number.parseInt(h, 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio, 1 to 21. */
function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

interface Element {
  tag: string;
  attrs: Record<string, string>;
}

/** The start tags of an SVG with their attributes (enough for files we write ourselves). */
function elements(svg: string): Element[] {
  return [...svg.matchAll(/<([a-zA-Z][\w:-]*)\b([^>]*?)\/?>/g)].map(([, tag, rest]) => ({
    tag: tag!,
    attrs: Object.fromEntries([...rest!.matchAll(/([\w:-]+)="([^"]*)"/g)].map(([, k, v]) => [k!, v!])),
  }));
}

function part(svg: string, name: string): Element {
  const found = elements(svg).filter((e) => e.attrs["data-part"] === name);
  expect(found, `one element with data-part="${name}"`).toHaveLength(1);
  return found[0]!;
}

/** Where each variant is meant to stand (docs/branding.md, "Which one"). */
const BACKGROUNDS: Record<"dark" | "light", string[]> = {
  dark: ["#ffffff", "#f6f8fa"],
  light: ["#ffffff", "#f6f8fa", "#000000", "#1b1f24"],
};

/** SHA-256 of each v1 file: v1 is served immutable, so its bytes must never change. */
const V1_SHA256: Record<string, string> = {
  "connect-button-dark": "b43cfaee5866ed7cf51f440934a8851d64f1bb8704c2aad65ed324a325e7112b",
  "connect-button-light": "0c8f34faabd821c7a493c83a6cc83e0b387a9f7fc92f75d70f81a399177b411e",
  "connect-button-dark-small": "3ccf9ab6725aea5f0181b7b881486f23c859b6a5fb827adcc9482faf5ca93e2f",
  "connect-button-light-small": "2e0a7d3a9142a6b982a0499bb027bb222fc89ac116253076e071d07b3e2779a9",
};

describe("the contrast arithmetic", () => {
  it("gives WCAG's known ratios", () => {
    expect(contrast("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrast("#ffffff", "#ffffff")).toBe(1);
    // #767676 on white is the classic lightest grey that passes 4.5:1; #777777 fails.
    expect(contrast("#767676", "#ffffff")).toBeGreaterThanOrEqual(4.5);
    expect(contrast("#777777", "#ffffff")).toBeLessThan(4.5);
  });
});

describe.each(CONNECT_BUTTONS.map((b) => [b.name, b] as const))("%s.svg", (_name, button) => {
  const svg = connectButtonSvg(button.name);
  const root = elements(svg)[0]!;

  it("has text that contrasts at least 4.5:1 with the button (WCAG 1.4.3)", () => {
    const fill = part(svg, "button").attrs.fill!;
    const label = part(svg, "label").attrs.fill!;
    expect(contrast(label, fill), `${label} on ${fill}`).toBeGreaterThanOrEqual(4.5);
  });

  it("has a mark and an edge that contrast at least 3:1 (WCAG 1.4.11), on the backgrounds it is meant for", () => {
    const rect = part(svg, "button").attrs;
    const mark = part(svg, "mark").attrs.stroke!;
    expect(contrast(mark, rect.fill!), `mark ${mark} on ${rect.fill}`).toBeGreaterThanOrEqual(3);
    for (const page of BACKGROUNDS[button.variant]) {
      const edge = Math.max(contrast(rect.fill!, page), contrast(rect.stroke ?? rect.fill!, page));
      expect(edge, `the button's edge on a ${page} page`).toBeGreaterThanOrEqual(3);
    }
  });

  it("has an accessible name and says only the allowed wording", () => {
    expect(root.tag).toBe("svg");
    expect(root.attrs.role).toBe("img");
    const titleId = root.attrs["aria-labelledby"];
    expect(titleId).toBeTruthy();
    expect(svg).toContain(`<title id="${titleId}">${WORDING}</title>`);
    expect(svg.match(/<text\b[^>]*>([^<]*)<\/text>/)?.[1]).toBe(WORDING);
    // The drawing repeats the name: hidden, so that an inlined copy is not read twice.
    expect(part(svg, "label").attrs["aria-hidden"]).toBe("true");
    expect(part(svg, "mark").attrs["aria-hidden"]).toBe("true");
  });

  it("cannot run script or load anything", () => {
    expect(svg).not.toMatch(/<script|<foreignObject|<iframe|<embed|<object|<!DOCTYPE|<!ENTITY|<\?xml-stylesheet/i);
    expect(svg).not.toMatch(/javascript:|url\(|@import/i);
    for (const e of elements(svg)) {
      for (const name of Object.keys(e.attrs)) {
        expect(name, `<${e.tag} ${name}>`).not.toMatch(/^on/i);
        expect(name, `<${e.tag} ${name}>`).not.toMatch(/^(href|xlink:href|src|style)$/i);
      }
    }
    // No <style> either: the files are served under a CSP that allows none.
    expect(svg).not.toMatch(/<style/i);
  });

  it("is drawn at its declared size, with the label and mark inside it", () => {
    expect(root.attrs.width).toBe(String(button.width));
    expect(root.attrs.height).toBe(String(button.height));
    expect(root.attrs.viewBox).toBe(`0 0 ${button.width} ${button.height}`);
    const label = part(svg, "label").attrs;
    // textLength fixes the label's width whatever font the viewer has.
    expect(Number(label.x) + Number(label.textLength)).toBeLessThanOrEqual(button.width - 8);
    expect(label.lengthAdjust).toBe("spacingAndGlyphs");
    // WCAG 2.5.8 (AA) asks 24 by 24 pixels of target at least.
    expect(Math.min(button.width, button.height)).toBeGreaterThanOrEqual(24);
  });

  it(`is served at ${connectButtonPath(button.name)} with v1's bytes unchanged`, () => {
    expect(connectButtonPath(button.name)).toBe(`/brand/${BRAND_VERSION}/${button.name}.svg`);
    if (BRAND_VERSION !== "v1") return;
    const sha = createHash("sha256").update(svg).digest("hex");
    expect(sha, "v1 is served immutable: put a new design under v2 and keep v1 as it is").toBe(V1_SHA256[button.name]);
  });
});

describe("the snippet", () => {
  const doc = readFileSync(new URL("../../docs/branding.md", import.meta.url), "utf8");
  const normalise = (css: string) => css.replace(/\s+/g, " ").trim();

  it("docs/branding.md gives the CSS the example partner app uses", () => {
    const css = doc.match(/```css\n([\s\S]*?)```/)?.[1];
    expect(css, "a ```css block in docs/branding.md").toBeDefined();
    expect(normalise(css!)).toBe(normalise(CONNECT_BUTTON_CSS));
  });

  it("has a focus ring that shows on light and dark backgrounds (an outline, and a ring of another colour inside it)", () => {
    const rule = CONNECT_BUTTON_CSS.match(/\.sg-connect:focus-visible\s*\{([^}]*)\}/)?.[1] ?? "";
    const outline = rule.match(/outline:\s*(\d+)px solid (#[0-9a-f]{6})/i);
    const ring = rule.match(/box-shadow:\s*0 0 0 (\d+)px (#[0-9a-f]{6})/i);
    expect(outline, rule).not.toBeNull();
    expect(ring, rule).not.toBeNull();
    expect(Number(outline![1])).toBeGreaterThanOrEqual(2);
    expect(contrast(outline![2]!, "#ffffff")).toBeGreaterThanOrEqual(3);
    expect(contrast(ring![2]!, "#000000")).toBeGreaterThanOrEqual(3);
    expect(contrast(outline![2]!, ring![2]!)).toBeGreaterThanOrEqual(3);
  });

  it("names every button in docs/branding.md with its URL and size, and gives each image alt text", () => {
    for (const b of CONNECT_BUTTONS) {
      expect(doc).toContain(connectButtonPath(b.name));
      expect(doc).toContain(`${b.width} × ${b.height}`);
    }
    const imgs = doc.match(/<img\b[^>]*>/g) ?? [];
    expect(imgs.length).toBeGreaterThan(0);
    for (const img of imgs) expect(img).toContain(`alt="${WORDING}"`);
  });
});
