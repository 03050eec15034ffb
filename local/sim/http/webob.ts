/**
 * The error pages webob renders when a request never reaches Nova's fault handling: no route
 * matched (GET or PUT on /action → 404, 03w/03x) or the request body is over oslo's size limit.
 * webob picks HTML for a wildcard or missing Accept, JSON for application/json, text otherwise.
 */
import { pyDumps } from '../python.js';

function bodyTemplate(explanation: string): string {
  return `${explanation}<br /><br />\n\n\n`;
}

/** Status line text, e.g. "404 Not Found". */
export function webobPage(
  status: string,
  title: string,
  explanation: string,
  accept: string | undefined,
): { contentType: string; body: string } {
  const body = bodyTemplate(explanation);
  const offers = (accept ?? '*/*').toLowerCase();
  if (offers === '' || offers.includes('text/html') || offers.includes('*/*') || offers.includes('text/*')) {
    return {
      contentType: 'text/html; charset=UTF-8',
      body: `<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n  <h1>${status}</h1>\n  ${body}\n </body>\n</html>`,
    };
  }
  if (offers.includes('application/json') || offers.includes('application/*')) {
    return {
      contentType: 'application/json; charset=UTF-8',
      body: pyDumps({ message: body, code: status, title }),
    };
  }
  const plain = body.replaceAll('\n', ' ').replaceAll('\r', '').replace(/<br.*?>/gis, '\n').replace(/<!--|-->/g, '').replace(/<.*?>/gs, '');
  return { contentType: 'text/plain; charset=UTF-8', body: `${status}\n\n${plain}` };
}
