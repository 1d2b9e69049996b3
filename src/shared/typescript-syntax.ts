/**
 * Does text that JavaScript refuses look like TypeScript? Used where no stripper is at hand: by
 * the input-completeness check (an `interface X {` line asks for more) and for the hint when
 * no stripper is installed. Pure, and only asked about inputs that are not JavaScript.
 */

const TYPED = new RegExp(
  [
    // declarations: interface, type, enum, namespace, declare, abstract class
    String.raw`(?:^|[;\n{}])\s*(?:export\s+)?(?:declare\s+)?(?:interface|type|enum|const\s+enum|namespace|module|abstract\s+class)\s+[A-Za-z_$]`,
    String.raw`(?:^|[;\n{}])\s*declare\s+(?:const|let|var|function|class|global)\b`,
    // annotations: `let x: T`, `let x?: T`, `): T`, `(a: T`, `, b?: T`
    String.raw`\b(?:let|const|var)\s+[\w$]+\s*!?:\s*[\w$[{(<'"]`,
    String.raw`\)\s*:\s*[\w$[{(<'"]`,
    String.raw`[(,]\s*(?:\.\.\.)?[\w$]+\s*\??:\s*[\w$[{(<'"]`,
    // parameter properties and modifiers
    String.raw`\b(?:private|public|protected|readonly)\s+[\w$#]+\s*[?:=;,)(]`,
    // `as`, `satisfies`, non-null `!.`, generics on a declaration, `import type`
    String.raw`[\w$)\]}'"]\s+(?:as|satisfies)\s+[\w$[{(<'"]`,
    String.raw`[\w$)\]]!\.`,
    String.raw`\b(?:function|class|interface|type)\s+[\w$]+\s*<`,
    String.raw`\bimport\s+type\b`,
  ].join("|"),
);

export function looksTypeScript(code: string): boolean {
  return TYPED.test(code);
}
