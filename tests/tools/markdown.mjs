// Renders Markdown to HTML the way Streamlit's frontend parses it: unified with remark-parse and
// remark-gfm (GitHub-flavoured Markdown, with its autolink literals), then remark-rehype.
// Streamlit 1.67 bundles mdast-util-gfm-autolink-literal 2.0.1 (package.json pins it).
// Reads a JSON array of Markdown texts on stdin, writes a JSON array of their HTML on stdout.
import {text} from 'node:stream/consumers'
import rehypeStringify from 'rehype-stringify'
import remarkGfm from 'remark-gfm'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import {unified} from 'unified'

const processor = unified().use(remarkParse).use(remarkGfm).use(remarkRehype).use(rehypeStringify)
const texts = JSON.parse(await text(process.stdin)) // (readFileSync(0) fails on a non-blocking pipe)
process.stdout.write(JSON.stringify(texts.map((markdown) => String(processor.processSync(markdown)))))
