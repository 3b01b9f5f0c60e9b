/**
 * No user-visible words left outside the catalogue: every .tsx file's JSX text and its
 * user-facing string attributes (placeholder, title, aria-label, alt, label), and string
 * literals shown straight from a JSX expression, must come from `t(...)`. Parsed with the
 * TypeScript compiler, so comments and code are not mistaken for text.
 */

import ts from "typescript";
import { describe, expect, it } from "vitest";

/** Every .tsx source under src/, by its path from here, read as text by Vite. */
const SOURCES: Readonly<Record<string, string>> = import.meta.glob(["../**/*.tsx", "!../**/*.test.tsx"], {
  query: "?raw",
  import: "default",
  eager: true,
});

/** Attributes a user reads or hears. */
const TEXT_ATTRIBUTES = new Set(["placeholder", "title", "aria-label", "alt", "label", "aria-description"]);

/**
 * Literal text allowed on screen, and why: each is the same in every language.
 * - "Farm Bridge": the product's name.
 * - "B", "KiB", "MiB": byte units (IEC symbols), written so in Korean too.
 * - "climate-2": an example device name (a slug, ASCII in every language).
 */
const ALLOWED = new Set(["Farm Bridge", "B", "KiB", "MiB", "climate-2"]);

const LETTERS = /\p{L}/u;

function isWords(text: string): boolean {
  const trimmed = text.trim();
  return LETTERS.test(trimmed) && !ALLOWED.has(trimmed);
}

/** String literals in a JSX expression that would reach the screen as they are. */
function shownLiterals(node: ts.Node, found: ts.Node[]): void {
  if (ts.isCallExpression(node)) return; // t("key"), fn("arg"): arguments are not shown text
  if (ts.isBinaryExpression(node) && [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken].includes(node.operatorToken.kind)) return;
  if (ts.isElementAccessExpression(node)) return;
  if (ts.isJsxElement(node) || ts.isJsxSelfClosingElement(node) || ts.isJsxFragment(node)) return; // visited on its own
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
    if (isWords(node.text)) found.push(node);
    return;
  }
  if (ts.isTemplateExpression(node)) {
    if (isWords(node.head.text) || node.templateSpans.some((s) => isWords(s.literal.text))) found.push(node);
  }
  ts.forEachChild(node, (child) => shownLiterals(child, found));
}

function untranslated(path: string, text: string): string[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TSX);
  const found: ts.Node[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isJsxText(node) && isWords(node.text)) found.push(node);
    if (ts.isJsxAttribute(node) && TEXT_ATTRIBUTES.has(node.name.getText(source)) && node.initializer) {
      const init = node.initializer;
      if (ts.isStringLiteral(init)) {
        if (isWords(init.text)) found.push(init);
      } else if (ts.isJsxExpression(init) && init.expression) {
        shownLiterals(init.expression, found);
      }
    }
    if (ts.isJsxExpression(node) && node.expression && (ts.isJsxElement(node.parent) || ts.isJsxFragment(node.parent))) {
      shownLiterals(node.expression, found);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.map((n) => {
    const { line } = source.getLineAndCharacterOfPosition(n.getStart(source));
    return `${path.replace(/^\.\.\//, "")}:${line + 1}: ${n.getText(source).trim()}`;
  });
}

describe("user-visible text", () => {
  it("finds the .tsx sources to check", () => {
    expect(Object.keys(SOURCES).length).toBeGreaterThan(10);
  });

  it("is never a literal in a .tsx file: it comes from the catalogue", () => {
    expect(Object.entries(SOURCES).flatMap(([path, text]) => untranslated(path, text))).toEqual([]);
  });

  it("is caught when left literal: text, attributes and shown strings", () => {
    const probe = `export function P({ on }: { on: boolean }) {
      return (
        <div title="Hello" aria-label={t("ok")}>
          Plain words
          <input placeholder={on ? "Type here" : t("ok")} />
          {on ? "yes" : t("ok")}
          {t("fine")} {on === "x" ? "" : "–"} Farm Bridge
        </div>
      );
    }`;
    expect(untranslated("probe.tsx", probe).map((f) => f.replace(/^.*?: /, ""))).toEqual([
      '"Hello"',
      "Plain words",
      '"Type here"',
      '"yes"',
    ]);
  });
});
