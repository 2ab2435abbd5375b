// Parses each AsyncAPI document named on the command line with the
// official parser and prints every diagnostic. Exits 1 if any document
// does not parse, or has an error or a warning (severity 0 or 1); info and
// hints are printed and allowed.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const severities = ['error', 'warning', 'info', 'hint'];
const parser = new Parser();
let bad = 0;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'), { source: file });
  for (const d of diagnostics) {
    console.log(`${file}: ${severities[d.severity] ?? d.severity}: ${d.code}: ${d.message} (at ${d.path.join('.') || 'the root'})`);
    if (d.severity <= 1) bad++;
  }
  if (!document) {
    console.log(`${file}: the parser returned no document`);
    bad++;
  }
}
console.log(`${process.argv.length - 2} documents, ${bad} errors or warnings`);
process.exit(bad ? 1 : 0);
