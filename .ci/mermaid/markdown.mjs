// Render markdown to HTML with markdown-it (CommonMark + GitHub-style tables, raw HTML allowed as
// GitHub allows some): stdin is a JSON array of markdown texts, stdout a JSON array of HTML.
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: true, linkify: true });
let input = '';
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).map((text) => md.render(text))));
